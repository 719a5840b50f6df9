"""platform admins: users.is_platform_admin

Revision ID: 0003
Revises: 0002

A public pipeline reaches every org and runs on the shared compute host, so publishing one
takes a platform-level role that no org role gives. The flag is granted from configuration
(the bootstrap user, ADMIN_PLATFORM_ADMINS) and carried to the other services as the
``platform:admin`` scope. Changing it is announced like any other access change (0002), so a
revoked flag stops personal access tokens at once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGER = "users_notify_access_change"


def _users_trigger(events: str) -> None:
    op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON admin.users")
    op.execute(
        f"CREATE TRIGGER {TRIGGER} AFTER {events} ON admin.users "
        f"FOR EACH STATEMENT EXECUTE FUNCTION admin.notify_access_change()"
    )


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("is_platform_admin", sa.Boolean(), server_default="false", nullable=False),
        schema="admin",
    )
    _users_trigger("UPDATE OF is_active, is_platform_admin OR DELETE")


def downgrade() -> None:
    _users_trigger("UPDATE OF is_active OR DELETE")
    op.drop_column("users", "is_platform_admin", schema="admin")

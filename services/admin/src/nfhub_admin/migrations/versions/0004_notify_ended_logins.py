"""announce ended logins: refresh-token families revoked

Revision ID: 0004
Revises: 0003

An access token names its login (the ``sid`` claim, the refresh-token family); services ask
admin whether that login is live and cache the answer. Logout and the reuse of a used refresh
token revoke the family: announced here like the other access changes (0002), so every service
refuses the login's access tokens from the next request on. Rotation sets ``used_at`` only and
stays quiet.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGER = "refresh_tokens_notify_access_change"


def upgrade() -> None:
    op.execute(
        f"CREATE TRIGGER {TRIGGER} AFTER UPDATE OF revoked_at ON admin.refresh_tokens "
        f"FOR EACH STATEMENT EXECUTE FUNCTION admin.notify_access_change()"
    )


def downgrade() -> None:
    op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON admin.refresh_tokens")

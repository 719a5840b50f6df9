"""notify the other services when access changes

Revision ID: 0002
Revises: 0001

compute, files and miner cache who a token is and what role a user has in a project (for up to
a minute). Each change that takes access away, or gives it, is announced on the channel
``nfhub_access`` at commit (before the changing request's answer goes out), and every service
drops the cached answers it concerns (nfhub_shared.auth.revocations). Statement-level triggers:
one notification per changing statement, however many rows (a deleted project's memberships).
Column lists keep routine writes (a token's last_used_at, a user's last login) quiet.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "nfhub_access"
# (table, the events that change access)
WATCHED = (
    ("org_memberships", "INSERT OR UPDATE OF role OR DELETE"),
    ("project_memberships", "INSERT OR UPDATE OF role OR DELETE"),
    ("personal_access_tokens", "UPDATE OF revoked_at, expires_at, scopes OR DELETE"),
    ("users", "UPDATE OF is_active OR DELETE"),
    ("projects", "UPDATE OF org_id OR DELETE"),
    ("orgs", "DELETE"),
)


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION admin.notify_access_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
            RETURN NULL;
        END;
        $$
        """
    )
    for table, events in WATCHED:
        op.execute(
            f"CREATE TRIGGER {table}_notify_access_change AFTER {events} ON admin.{table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION admin.notify_access_change()"
        )


def downgrade() -> None:
    for table, _ in reversed(WATCHED):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify_access_change ON admin.{table}")
    op.execute("DROP FUNCTION IF EXISTS admin.notify_access_change()")

"""Append-only audit log, written in the same transaction as the change it records.

Each service owns an ``audit_events`` table in its schema (same columns, made by
`audit_table`); a trigger installed by `append_only_trigger_sql` refuses UPDATE and DELETE.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    Uuid,
    func,
    insert,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_shared.auth.principal import Principal, ProjectAccess
from nfhub_shared.logging import request_fields
from nfhub_shared.state import ServiceState


def audit_table(metadata: MetaData) -> Table:
    return Table(
        "audit_events",
        metadata,
        Column("id", Uuid, primary_key=True, default=uuid.uuid4),
        Column("occurred_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("actor_id", String(64), nullable=True),
        Column("actor_kind", String(16), nullable=False),
        Column("action", String(64), nullable=False),
        Column("resource_type", String(64), nullable=False),
        Column("resource_id", String(64), nullable=True),
        Column("org_id", Uuid, nullable=True),
        Column("project_id", Uuid, nullable=True),
        Column("request_id", String(128), nullable=True),
        Column("details", JSONB, nullable=False, server_default="{}"),
        Index(None, "org_id", "occurred_at"),
        Index(None, "actor_id", "occurred_at"),
        Index(None, "resource_type", "resource_id"),
        Index(None, "action", "occurred_at"),
    )


def append_only_trigger_sql(schema: str) -> list[str]:
    """SQL for a migration: audit rows can be inserted, never changed or removed."""
    return [
        f"""
        CREATE OR REPLACE FUNCTION "{schema}".audit_events_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_events is append-only';
        END;
        $$
        """,
        f"""
        CREATE TRIGGER audit_events_append_only
        BEFORE UPDATE OR DELETE ON "{schema}".audit_events
        FOR EACH ROW EXECUTE FUNCTION "{schema}".audit_events_append_only()
        """,
    ]


class AuditWriter:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def record(
        self,
        session: AsyncSession,
        *,
        actor: Principal | None,
        action: str,
        resource_type: str,
        resource_id: uuid.UUID | str | None = None,
        org_id: uuid.UUID | None = None,
        project_id: uuid.UUID | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        await session.execute(
            insert(self.table).values(
                id=uuid.uuid4(),
                occurred_at=datetime.now(UTC),
                actor_id=actor.subject if actor else None,
                actor_kind=actor.kind if actor else "system",
                action=action,
                resource_type=resource_type,
                resource_id=str(resource_id) if resource_id is not None else None,
                org_id=org_id,
                project_id=project_id,
                request_id=request_id or request_fields().get("request_id"),
                details=details or {},
            )
        )

    async def record_in_project(
        self,
        session: AsyncSession,
        access: ProjectAccess,
        action: str,
        resource_type: str,
        resource_id: uuid.UUID | str | None,
        details: dict[str, Any],
    ) -> None:
        """An event of a project-scoped service: the caller, their org and project."""
        await self.record(
            session,
            actor=access.principal,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            org_id=access.org_id,
            project_id=access.project_id,
            details=details,
        )


async def get_audit_writer(request: Request) -> AuditWriter:
    return ServiceState.of(request.app).audit_writer


AuditDep = Annotated[AuditWriter, Depends(get_audit_writer)]

"""Short-lived S3 credentials limited to one project's prefix (STS AssumeRole + session policy).

The role grants the bucket; the inline session policy narrows every call to
``projects/<id>/``: read-only for viewers, read-write for editors and admins.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import anyio
import structlog

from nfhub_admin.config import Settings
from nfhub_admin.projects.schemas import TemporaryCredentials
from nfhub_shared.auth.principal import ProjectRole
from nfhub_shared.errors import ServiceUnavailable

logger = structlog.get_logger("nfhub.admin.credentials")

READ_ACTIONS = ["s3:GetObject", "s3:GetObjectAttributes", "s3:GetObjectTagging"]
WRITE_ACTIONS = [
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
]


def prefix_policy(bucket: str, prefix: str, role: ProjectRole) -> dict[str, Any]:
    """The session policy: objects under ``prefix`` only; listing only below it."""
    actions = READ_ACTIONS + (WRITE_ACTIONS if role.allows(ProjectRole.editor) else [])
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ProjectObjects",
                "Effect": "Allow",
                "Action": actions,
                "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
            },
            {
                "Sid": "ListProjectPrefix",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            },
        ],
    }


class StsCredentialIssuer:
    """Made only where projects' storage is S3 with an STS role: boto3 is imported here, not by
    every admin process at its start."""

    def __init__(self, settings: Settings) -> None:
        import boto3
        from botocore.config import Config

        if not settings.STORAGE_BUCKET or not settings.STORAGE_STS_ROLE_ARN:
            raise ValueError("STS credentials need ADMIN_STORAGE_BUCKET and a role ARN")
        self.bucket = settings.STORAGE_BUCKET
        self.role_arn = settings.STORAGE_STS_ROLE_ARN
        self.duration = settings.STORAGE_CREDENTIALS_TTL_SECONDS
        secret = settings.STORAGE_SECRET_ACCESS_KEY
        self.client = boto3.client(
            "sts",
            endpoint_url=str(settings.STORAGE_STS_ENDPOINT_URL or settings.STORAGE_ENDPOINT_URL)
            if (settings.STORAGE_STS_ENDPOINT_URL or settings.STORAGE_ENDPOINT_URL)
            else None,
            region_name=settings.STORAGE_REGION or "us-east-1",
            aws_access_key_id=settings.STORAGE_ACCESS_KEY_ID,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 1}),
        )

    async def issue(
        self, project_id: uuid.UUID, prefix: str, role: ProjectRole, user_id: uuid.UUID
    ) -> TemporaryCredentials:
        policy = json.dumps(prefix_policy(self.bucket, prefix, role))
        session_name = f"nfhub-{str(user_id)[:8]}-{str(project_id)[:8]}"

        def assume() -> dict[str, Any]:
            response = self.client.assume_role(
                RoleArn=self.role_arn,
                RoleSessionName=session_name,
                DurationSeconds=self.duration,
                Policy=policy,
            )
            return dict(response["Credentials"])

        from botocore.exceptions import BotoCoreError, ClientError

        try:
            credentials = await anyio.to_thread.run_sync(assume)
        except (BotoCoreError, ClientError) as exc:
            logger.warning("sts assume_role failed", error=type(exc).__name__)
            raise ServiceUnavailable(
                "Temporary storage credentials cannot be issued right now (STS unreachable or "
                "the role is misconfigured); signed URLs from the files service still work."
            ) from exc
        expiration = credentials["Expiration"]
        return TemporaryCredentials(
            access_key_id=credentials["AccessKeyId"],
            secret_access_key=credentials["SecretAccessKey"],
            session_token=credentials["SessionToken"],
            expires_at=expiration
            if isinstance(expiration, datetime)
            else datetime.fromisoformat(str(expiration)),
            access="read-write" if role.allows(ProjectRole.editor) else "read",
        )

from __future__ import annotations

import uuid

from sqlalchemy import select

from nfhub_files.models import MultipartUpload
from nfhub_shared.db.repository import Repository


class MultipartUploadRepository(Repository[MultipartUpload]):
    model = MultipartUpload

    async def get_in_project(
        self, project_id: uuid.UUID, upload_id: uuid.UUID, *, for_update: bool = False
    ) -> MultipartUpload | None:
        statement = select(MultipartUpload).where(
            MultipartUpload.id == upload_id, MultipartUpload.project_id == project_id
        )
        if for_update:
            # Complete and abort of one upload take turns: only one of them touches the store.
            statement = statement.with_for_update()
        return await self.session.scalar(statement)

from __future__ import annotations

from nfhub_files.config import Settings
from nfhub_files.storage.base import StorageBackend
from nfhub_files.storage.local import LocalStorage
from nfhub_files.storage.signing import BlobSigner


def create_storage(settings: Settings) -> StorageBackend:
    if settings.STORAGE_BACKEND == "s3":
        from nfhub_files.storage.s3 import S3Storage

        return S3Storage.from_settings(settings)
    signer = BlobSigner(settings.SIGNING_SECRET.get_secret_value(), str(settings.FILES_URL))
    return LocalStorage(
        settings.LOCAL_ROOT,
        signer,
        settings.MAX_OBJECT_BYTES,
        durable=settings.LOCAL_FSYNC,
        upload_memory_bytes=settings.LOCAL_UPLOAD_MEMORY_BYTES,
    )

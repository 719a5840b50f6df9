from nfhub_files.models.archive import Archive
from nfhub_files.models.base import Base, audit_events
from nfhub_files.models.multipart import MultipartUpload

__all__ = ["Archive", "Base", "MultipartUpload", "audit_events"]

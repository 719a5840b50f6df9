"""Local-disk backend: objects are files under a root directory.

Signed URLs point at this service's own blob endpoint. Uploads stream to a temporary file next to
the destination and are renamed into place only when complete and verified, so a failed or
partial upload never leaves a half file at the final path.

objects.py holds the objects (paths, reading, listing, writing), multipart.py the multipart
uploads, writer.py the receiving of an upload's body, locks.py the staging files' locks and
disk.py the file primitives all of them use.
"""

from __future__ import annotations

from nfhub_files.storage.local.disk import local_etag
from nfhub_files.storage.local.multipart import LocalMultipart

__all__ = ["LocalStorage", "local_etag"]


class LocalStorage(LocalMultipart):
    name = "local"

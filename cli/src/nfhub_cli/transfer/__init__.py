"""Uploads and downloads through the files service's signed URLs, resumable.

Big uploads go in parts (the files service's multipart uploads): the upload's id is noted in
the config folder before the first part is sent, so running the same command again after an
interruption asks the server which parts it holds and sends only the others. Downloads are
written to ``<name>.nfhub-part`` and continued with a Range request; the file takes its real
name only once its size (and sha256, when the server knows it) match. Big downloads come in
byte ranges, several at once (one stream from S3 or over a long link is slower than a few side
by side), each range noted in ``<name>.nfhub-part.ranges`` once it is on the disk, so the same
command again fetches only the ranges missing. Every request after the first names the version
it continues (If-Range): a file replaced on the server meanwhile starts over, whole.

``upload`` sends one file, ``download`` and ``ranged`` fetch one, ``folders`` moves many at once,
``common`` holds what they share.
"""

from nfhub_cli.transfer.common import (
    FILE_WORKERS,
    MIN_PART_SIZE,
    MULTIPART_THRESHOLD,
    PART_SUFFIX,
    PART_WORKERS,
    RANGE_SIZE,
    RANGED_THRESHOLD,
    Progress,
)
from nfhub_cli.transfer.download import download
from nfhub_cli.transfer.folders import download_folder, upload_folder
from nfhub_cli.transfer.upload import ResumeStore, upload

__all__ = [
    "FILE_WORKERS",
    "MIN_PART_SIZE",
    "MULTIPART_THRESHOLD",
    "PART_SUFFIX",
    "PART_WORKERS",
    "RANGED_THRESHOLD",
    "RANGE_SIZE",
    "Progress",
    "ResumeStore",
    "download",
    "download_folder",
    "upload",
    "upload_folder",
]

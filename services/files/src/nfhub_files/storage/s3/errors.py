"""botocore's failures as the API's problems: what S3 refused, or why it cannot be reached."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from nfhub_files.storage.errors import ObjectNotFound, StorageUnavailable
from nfhub_shared.errors import AppError, BadRequest

RETRY_LATER = {"Retry-After": "5"}

_CREDENTIAL_ERRORS = {
    "AccessDenied",
    "AllAccessDisabled",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "InvalidToken",
    "SignatureDoesNotMatch",
    "TokenRefreshRequired",
}
_REGION_ERRORS = {"AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}
_PART_ERRORS = {"InvalidPart", "InvalidPartOrder", "EntityTooSmall"}


class InvalidUploadParts(BadRequest):
    title = "Invalid multipart upload parts"


def storage_error(exc: ClientError | BotoCoreError, *, bucket: str, endpoint: str) -> AppError:
    """The problem to raise for a failed call to the bucket ``bucket`` at ``endpoint``."""
    if isinstance(exc, ClientError):
        return _refusal(exc, bucket=bucket, endpoint=endpoint)
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return StorageUnavailable(
            "No S3 credentials were found; set FILES_S3_ACCESS_KEY_ID and "
            "FILES_S3_SECRET_ACCESS_KEY, or give the host an AWS credential source."
        )
    if isinstance(exc, ParamValidationError):
        # botocore refuses before sending, e.g. a bucket name S3 does not allow.
        return StorageUnavailable(
            f"The S3 settings do not make a valid request ({exc}); check FILES_S3_BUCKET."
        )
    return StorageUnavailable(
        f"Cannot reach the S3 storage at {endpoint} ({type(exc).__name__}); "
        "check that it is up and that FILES_S3_ENDPOINT_URL is right.",
        headers=RETRY_LATER,
    )


def _refusal(exc: ClientError, *, bucket: str, endpoint: str) -> AppError:
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in {"NoSuchKey", "404", "NotFound"}:
        return ObjectNotFound("No such file or folder.")
    if code == "NoSuchUpload":
        return ObjectNotFound(
            "No such multipart upload: it was completed or aborted, or never existed."
        )
    if code in _PART_ERRORS:
        message = exc.response.get("Error", {}).get("Message", code)
        return InvalidUploadParts(
            f"S3 refused the parts ({code}: {message}). List the parts already uploaded and "
            "complete with their part numbers and ETags; every part but the last must be at "
            "least 5 MiB."
        )
    if code == "NoSuchBucket":
        return StorageUnavailable(
            f"The bucket {bucket!r} does not exist at {endpoint}; create it or fix FILES_S3_BUCKET."
        )
    if code in _CREDENTIAL_ERRORS or status == 403:
        return StorageUnavailable(
            f"The S3 storage refused our credentials for bucket {bucket!r} ({code}); "
            "check FILES_S3_ACCESS_KEY_ID, FILES_S3_SECRET_ACCESS_KEY and the bucket policy."
        )
    if code in _REGION_ERRORS or status == 301:
        return StorageUnavailable(
            f"The bucket {bucket!r} is in another region ({code}); fix FILES_S3_REGION."
        )
    return StorageUnavailable(
        f"The S3 storage answered {status} {code or 'without an error code'}; try again "
        "later, or check the storage's logs.",
        headers=RETRY_LATER if status >= 500 else None,
    )

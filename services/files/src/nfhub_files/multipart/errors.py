from nfhub_shared.errors import BadRequest, Conflict, NotFound


class MultipartUploadNotFound(NotFound):
    title = "No such multipart upload"


class InvalidPartPlan(BadRequest):
    title = "Invalid part size or count"


class UploadNotInProgress(Conflict):
    title = "Upload not in progress"


class UploadIncomplete(Conflict):
    title = "Upload incomplete"


class PartMismatch(Conflict):
    title = "Parts do not match the upload"

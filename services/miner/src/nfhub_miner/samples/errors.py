from nfhub_shared.errors import Conflict, NotFound, ValidationFailed


class SampleNotFound(NotFound):
    title = "No such sample"


class SampleExists(Conflict):
    title = "Sample exists"


class SampleFilesMissing(ValidationFailed):
    title = "Sample files not found"


class ImportFailed(ValidationFailed):
    title = "Import refused"

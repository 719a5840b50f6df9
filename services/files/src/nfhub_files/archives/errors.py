from nfhub_shared.errors import NotFound


class ArchiveNotFound(NotFound):
    title = "No such archive"


class ArchiveBuildError(Exception):
    """A build that cannot succeed; the message is shown to the user as the archive's error."""

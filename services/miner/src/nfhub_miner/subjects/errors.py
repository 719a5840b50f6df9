from nfhub_shared.errors import Conflict, NotFound


class SubjectNotFound(NotFound):
    title = "No such subject"


class SubjectExists(Conflict):
    title = "Subject exists"


class SubjectHasSamples(Conflict):
    title = "Subject has samples"

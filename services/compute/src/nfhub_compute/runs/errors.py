from nfhub_shared.errors import Conflict, NotFound, ValidationFailed


class RunNotFound(NotFound):
    title = "No such run"


class IllegalRunTransition(Conflict):
    title = "Illegal run state change"


class InvalidLaunch(ValidationFailed):
    title = "The run cannot be launched as asked"

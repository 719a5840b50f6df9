from nfhub_shared.errors import Conflict, Forbidden, NotFound


class SecretNotFound(NotFound):
    title = "No such secret"


class SecretExists(Conflict):
    title = "The secret exists"


class SecretScopeForbidden(Forbidden):
    title = "Not allowed to change secrets of this scope"

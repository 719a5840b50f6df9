from nfhub_shared.errors import Conflict, ValidationFailed


class UsernameTaken(Conflict):
    title = "Username taken"


class WeakPassword(ValidationFailed):
    title = "Password too weak"

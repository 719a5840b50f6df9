from nfhub_shared.errors import Conflict, Forbidden


class TokenNameTaken(Conflict):
    title = "Token name taken"


class ScopeEscalation(Forbidden):
    title = "Scope not held"

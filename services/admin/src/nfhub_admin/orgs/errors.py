from nfhub_shared.errors import Conflict, Forbidden


class SlugTaken(Conflict):
    title = "Slug taken"


class LastOwner(Conflict):
    title = "Last owner"


class AlreadyMember(Conflict):
    title = "Already a member"


class OrgCreationDisabled(Forbidden):
    title = "Organisation creation disabled"

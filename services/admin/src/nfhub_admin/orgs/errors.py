from nfhub_shared.errors import Conflict, Forbidden


class SlugTaken(Conflict):
    title = "Slug taken"


class OrgCreationDisabled(Forbidden):
    title = "Organisation creation disabled"

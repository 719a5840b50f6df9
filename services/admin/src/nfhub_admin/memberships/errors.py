from nfhub_shared.errors import Conflict


class AlreadyMember(Conflict):
    title = "Already a member"


class LastOwner(Conflict):
    title = "Last owner"


class NotAnOrgMember(Conflict):
    title = "Not an organisation member"

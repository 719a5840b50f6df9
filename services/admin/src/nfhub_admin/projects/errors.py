from nfhub_shared.errors import Conflict


class ProjectSlugTaken(Conflict):
    title = "Project slug taken"

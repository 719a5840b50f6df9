from nfhub_shared.errors import Conflict, NotFound


class WebhookNotFound(NotFound):
    title = "No such webhook"


class WebhookDisabled(Conflict):
    title = "The webhook is disabled"

"""WES's refusals. They are AppErrors like every other; on WES paths the middleware
(wes.middleware) renders every error as the spec's ErrorResponse instead of problem+json."""

from __future__ import annotations

from nfhub_shared.errors import BadRequest, Forbidden, NotFound


class InvalidWesRequest(BadRequest):
    title = "The WES request cannot be run as asked"


class WesRunNotFound(NotFound):
    title = "No such run"


class WesTaskNotFound(NotFound):
    title = "No such task"


class InvalidPageToken(BadRequest):
    title = "Not a page token of this list"


class WesTaskPageNotFound(NotFound):
    title = "No such page of tasks"


class WesProjectRefused(Forbidden):
    """A project the caller cannot see, on a route whose answers the spec lists without a
    404 (service-info, the run list, a launch): its 403, the same for a project that does not
    exist, so neither tells which projects there are."""

    title = "Not a project of yours"

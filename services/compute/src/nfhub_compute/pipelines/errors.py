from nfhub_shared.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)


class PipelineNotFound(NotFound):
    title = "No such pipeline"


class PipelineVersionNotFound(NotFound):
    title = "No such pipeline version"


class PipelineSlugTaken(Conflict):
    title = "Pipeline slug taken"


class PipelineVersionExists(Conflict):
    title = "Pipeline version exists"


class PipelineReadOnly(Forbidden):
    title = "Pipeline is read-only here"


class InvalidPipelineSchema(ValidationFailed):
    title = "Invalid pipeline schema"


class InvalidPipelineSource(ValidationFailed):
    title = "Invalid pipeline source"


class SourceCheckUnavailable(ServiceUnavailable):
    title = "Pipeline source cannot be checked"


class PublicPipelineForbidden(Forbidden):
    title = "Publishing needs a platform admin"

from nfhub_shared.errors import Conflict, NotFound, ValidationFailed


class ComputeEnvNotFound(NotFound):
    title = "No such compute environment"


class ComputeEnvNameTaken(Conflict):
    title = "Compute environment name taken"


class ComputeEnvConflict(Conflict):
    title = "Compute environment in the wrong state"


class ComputeEnvUnusable(Conflict):
    title = "Compute environment refuses runs"


class InvalidComputeEnv(ValidationFailed):
    title = "Invalid compute environment"


class ComputeEnvFailedChecks(ValidationFailed):
    """validate found problems; the environment is recorded INVALID all the same."""

    title = "Compute environment failed validation"

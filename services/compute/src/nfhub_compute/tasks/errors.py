from nfhub_shared.errors import NotFound, ServiceUnavailable


class TaskNotFound(NotFound):
    title = "No such task"


class TaskFilesGone(NotFound):
    title = "The task's files are gone"


class TaskFilesNotRead(ServiceUnavailable):
    title = "No worker has read the task's files yet"

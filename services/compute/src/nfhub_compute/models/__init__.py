from nfhub_compute.models.base import Base, audit_events
from nfhub_compute.models.compute_env import ComputeEnv
from nfhub_compute.models.pipeline import Pipeline, PipelineVersion
from nfhub_compute.models.run import LIVE_STATES, Run, worker_scope
from nfhub_compute.models.run_event import RunEvent
from nfhub_compute.models.run_log import RunLogChunk
from nfhub_compute.models.run_metrics import StoredRunMetrics
from nfhub_compute.models.secret import PipelineSecret
from nfhub_compute.models.task import Task
from nfhub_compute.models.task_file import TASK_FILES, TaskFile, TaskFileFetch
from nfhub_compute.models.webhook import WEBHOOKS_CHANNEL, Webhook, WebhookAttempt, WebhookDelivery
from nfhub_compute.models.worker import ComputeWorker

__all__ = [
    "LIVE_STATES",
    "TASK_FILES",
    "WEBHOOKS_CHANNEL",
    "Base",
    "ComputeEnv",
    "ComputeWorker",
    "Pipeline",
    "PipelineSecret",
    "PipelineVersion",
    "Run",
    "RunEvent",
    "RunLogChunk",
    "StoredRunMetrics",
    "Task",
    "TaskFile",
    "TaskFileFetch",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "audit_events",
    "worker_scope",
]

from nfhub_miner.models.base import Base, audit_events
from nfhub_miner.models.order import Order, OrderSample, OrderTransition
from nfhub_miner.models.sample import ProjectCount, Sample
from nfhub_miner.models.subject import Subject
from nfhub_miner.models.webhook import WEBHOOKS_CHANNEL, Webhook, WebhookAttempt, WebhookDelivery

__all__ = [
    "WEBHOOKS_CHANNEL",
    "Base",
    "Order",
    "OrderSample",
    "OrderTransition",
    "ProjectCount",
    "Sample",
    "Subject",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "audit_events",
]

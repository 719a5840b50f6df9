from nfhub_miner.models.base import Base, audit_events
from nfhub_miner.models.order import Order, OrderSample, OrderTransition
from nfhub_miner.models.sample import ProjectCount, Sample
from nfhub_miner.models.subject import Subject

__all__ = [
    "Base",
    "Order",
    "OrderSample",
    "OrderTransition",
    "ProjectCount",
    "Sample",
    "Subject",
    "audit_events",
]

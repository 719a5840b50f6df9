from nfhub_shared.audit import audit_table
from nfhub_shared.db.base import ServiceBase, make_metadata

SCHEMA = "miner"


class Base(ServiceBase):
    __abstract__ = True
    metadata = make_metadata(SCHEMA)


audit_events = audit_table(Base.metadata)

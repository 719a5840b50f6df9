from nfhub_shared.db.base import ServiceBase, make_metadata

SCHEMA = "web"


class Base(ServiceBase):
    __abstract__ = True
    metadata = make_metadata(SCHEMA)

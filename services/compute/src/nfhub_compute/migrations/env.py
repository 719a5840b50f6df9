from nfhub_compute.models import Base
from nfhub_compute.models.base import SCHEMA
from nfhub_shared.db.migrations import run_env

run_env(Base.metadata, SCHEMA)

from nfhub_miner.models import Base
from nfhub_miner.models.base import SCHEMA
from nfhub_shared.db.migrations import run_env

run_env(Base.metadata, SCHEMA)

from nfhub_files.models import Base
from nfhub_files.models.base import SCHEMA
from nfhub_shared.db.migrations import run_env

run_env(Base.metadata, SCHEMA)

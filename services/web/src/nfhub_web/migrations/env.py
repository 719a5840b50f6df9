from nfhub_shared.db.migrations import run_env
from nfhub_web.models import Base
from nfhub_web.models.base import SCHEMA

run_env(Base.metadata, SCHEMA)

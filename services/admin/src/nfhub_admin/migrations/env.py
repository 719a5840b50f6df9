from nfhub_shared.db.migrations import run_env

from nfhub_admin.models import Base
from nfhub_admin.models.base import SCHEMA

run_env(Base.metadata, SCHEMA)

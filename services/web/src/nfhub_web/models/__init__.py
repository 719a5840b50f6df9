from nfhub_web.models.base import Base
from nfhub_web.models.session import WebSession

__all__ = ["Base", "WebSession"]

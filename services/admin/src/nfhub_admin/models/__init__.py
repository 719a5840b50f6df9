from nfhub_admin.models.base import Base, audit_events
from nfhub_admin.models.identity import OidcIdentity, OidcLoginAttempt
from nfhub_admin.models.org import Org, OrgMembership
from nfhub_admin.models.project import Project, ProjectMembership
from nfhub_admin.models.token import PersonalAccessToken, RefreshToken
from nfhub_admin.models.user import User

__all__ = [
    "Base",
    "OidcIdentity",
    "OidcLoginAttempt",
    "Org",
    "OrgMembership",
    "PersonalAccessToken",
    "Project",
    "ProjectMembership",
    "RefreshToken",
    "User",
    "audit_events",
]

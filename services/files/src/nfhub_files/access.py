"""The project roles and token scopes files routes ask for, named once for every domain."""

from __future__ import annotations

from typing import Annotated

from nfhub_shared.auth.dependencies import project_role
from nfhub_shared.auth.principal import ProjectAccess, ProjectRole

READ_SCOPE = "files:read"
WRITE_SCOPE = "files:write"

FilesViewer = Annotated[ProjectAccess, project_role(ProjectRole.viewer, READ_SCOPE)]
FilesEditor = Annotated[ProjectAccess, project_role(ProjectRole.editor, WRITE_SCOPE)]

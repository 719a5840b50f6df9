"""The caller's role in the project named by X-Project-ID, as every miner domain checks it."""

from __future__ import annotations

from typing import Annotated

from nfhub_shared.auth.dependencies import project_role
from nfhub_shared.auth.principal import ProjectAccess, ProjectRole

SamplesViewer = Annotated[ProjectAccess, project_role(ProjectRole.viewer, "samples:read")]
SamplesEditor = Annotated[ProjectAccess, project_role(ProjectRole.editor, "samples:write")]

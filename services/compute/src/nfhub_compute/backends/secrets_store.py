"""A run's pipeline secrets as Nextflow reads them: its local secrets store, one per run.

Nextflow's LocalSecretsProvider (modules/nextflow/src/main/groovy/nextflow/secret/
LocalSecretsProvider.groovy) reads the file named by ``NXF_SECRETS_FILE`` (an absolute
path; the default is ``$NXF_HOME/secrets/store.json``): a JSON array of
``{"name": …, "value": …}`` (Gson's form of its SecretImpl), which it refuses unless its
permissions are exactly ``rw-------``. For a task whose process declares ``secret 'NAME'``
it writes the exports to ``.nf-<hash>.secrets`` beside the store, so the store gets a
folder of its own (mode 0700) that goes away as a whole.

The launcher is given this folder and removes it when Nextflow exits; the backend removes it
too once it sees the run ended (the launcher may have been killed). Every launch gets
``NXF_SECRETS_FILE`` pointing here, secrets or not: a pipeline never reads the worker
host's own store.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

SECRETS_DIR = ".secrets"
STORE_FILE = "store.json"


def secrets_dir(launch_dir: Path) -> Path:
    return launch_dir / SECRETS_DIR


def store_path(launch_dir: Path) -> Path:
    return secrets_dir(launch_dir) / STORE_FILE


def environment(launch_dir: Path) -> dict[str, str]:
    """What the launcher's environment names the store by (set for every launch)."""
    return {"NXF_SECRETS_FILE": str(store_path(launch_dir))}


def write_store(launch_dir: Path, values: Mapping[str, str]) -> None:
    """The run's store, readable by this user alone (nothing written when there is none)."""
    remove_store(launch_dir)
    if not values:
        return
    folder = secrets_dir(launch_dir)
    folder.mkdir(mode=0o700)
    folder.chmod(0o700)  # whatever the umask
    data = json.dumps([{"name": name, "value": value} for name, value in values.items()])
    descriptor = os.open(store_path(launch_dir), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(data)


def remove_store(launch_dir: Path) -> None:
    shutil.rmtree(secrets_dir(launch_dir), ignore_errors=True)

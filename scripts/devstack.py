"""Run the whole nfhub stack on this machine (``make run``): the entry point of the
``nfhub_devstack`` package beside it, which says what it does and where its state lives.

``uv run --frozen python scripts/devstack.py run [--http] [--no-echo] [--no-seed]``
"""

from __future__ import annotations

from nfhub_devstack.cli import app

if __name__ == "__main__":
    app()

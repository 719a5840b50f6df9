from __future__ import annotations


class LoginRequired(Exception):
    """No session, or one that ended: the user logs in (again)."""

    def __init__(self, reason: str = "Log in to continue.") -> None:
        super().__init__(reason)
        self.reason = reason

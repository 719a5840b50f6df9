"""Service settings for in-process tests, validated once per test process for the same values.

Building a service's settings runs pydantic-settings over every field twice (the prefixed and
the plain environment): 5-9 ms of CPU, four times per in-process test (admin, files, compute,
miner). The values the fixtures give are the same from one test to the next, apart from the
test's own folders; so a validated instance is kept per (class, values, environment), and each
test gets a deep copy with its folders set (``per_test``: paths, which need no validation).
Tests already derive variants with ``model_copy(update=...)``, which is what this does.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from pathlib import PurePath
from typing import Any, TypeVar

from pydantic import SecretStr
from pydantic_settings import BaseSettings

S = TypeVar("S", bound=BaseSettings)

_built: dict[Hashable, BaseSettings] = {}


class _NotPlain(Exception):
    pass


def _key(value: Any) -> Hashable:
    if value is None or isinstance(value, (str, int, float, bool)):
        return (type(value).__name__, value)
    if isinstance(value, PurePath):
        return ("path", str(value))
    if isinstance(value, SecretStr):
        return ("secret", value.get_secret_value())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_key(item) for item in value))
    raise _NotPlain


def _environment(cls: type[BaseSettings]) -> frozenset[tuple[str, str]]:
    """The variables the settings read: each field's name, plain or with the prefix (pytest's
    own, PYTEST_CURRENT_TEST, changes with every test)."""
    prefix = str(cls.model_config.get("env_prefix") or "").upper()
    names = {name.upper() for field in cls.model_fields for name in (field, prefix + field)}
    return frozenset((k, v) for k, v in os.environ.items() if k.upper() in names)


def settings_of(
    cls: type[S], *, per_test: Mapping[str, PurePath] | None = None, **values: Any
) -> S:
    """``cls(_env_file=None, **values, **per_test)``, validated once per process."""
    per_test = dict(per_test or {})
    try:
        key = (
            cls,
            tuple(sorted((name, _key(value)) for name, value in values.items())),
            _environment(cls),
        )
    except _NotPlain:  # something that is not plain data: validated every time
        return cls(_env_file=None, **values, **per_test)  # type: ignore[call-arg]
    base = _built.get(key)
    if base is None:
        base = _built[key] = cls(_env_file=None, **values, **per_test)  # type: ignore[call-arg]
    copy = base.model_copy(update=per_test, deep=True)
    assert isinstance(copy, cls)
    return copy

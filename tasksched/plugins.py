"""The learners this deployment registered: the operator's choice, never a tenant's.

Two sources, read by every process that validates or runs schedules:

* the Python entry-point group ``tasksched.learners`` of the installed distributions
  (tasksched itself registers ``demo``); a package registers its own in ``pyproject.toml``:
  ``[project.entry-points."tasksched.learners"] churn = "mylearners:ChurnModel"``;
* ``TASKSCHED_LEARNERS``: ``name=module:attribute,...`` for a deployment's own (it wins over an
  entry point of the same name).

A schedule names one of them (``config.learner``); nothing here imports anything: this module
maps names to targets, and :mod:`tasksched.learners.base` imports a target only when a worker
runs a learner the operator registered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from importlib.metadata import entry_points
from types import MappingProxyType

from tasksched.errors import ValidationError

__all__ = [
    "LEARNERS_SETTING",
    "LEARNER_GROUP",
    "check_registered",
    "parse_learners",
    "registered_learners",
    "unknown_learner",
]

LEARNER_GROUP = "tasksched.learners"
LEARNERS_SETTING = "TASKSCHED_LEARNERS"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
TARGET_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def parse_learners(value: str) -> dict[str, str]:
    """``name=module:attribute,...`` as a dict; ValidationError naming the variable."""
    out: dict[str, str] = {}
    for n, raw in enumerate(value.split(","), 1):
        item = raw.strip()
        if not item:
            continue
        name, sep, target = (p.strip() for p in item.partition("="))
        if not sep or not NAME_RE.match(name):
            raise ValidationError(
                LEARNERS_SETTING,
                f"entry {n} is not 'name=module:attribute' with a name of letters, digits, "
                "'_', '-', '.'",
            )
        if not TARGET_RE.match(target):
            raise ValidationError(
                LEARNERS_SETTING, f"entry {n} ({name}): {target!r} is not 'module:attribute'"
            )
        if name in out:
            raise ValidationError(LEARNERS_SETTING, f"entry {n}: {name!r} is listed twice")
        out[name] = target
    return out


@lru_cache(maxsize=8)
def registered_learners(setting: str = "") -> Mapping[str, str]:
    """Every registered learner name and its target ``module:attribute`` (read once)."""
    out = {ep.name: ep.value for ep in entry_points(group=LEARNER_GROUP)}
    out.update(parse_learners(setting))
    return MappingProxyType(dict(sorted(out.items())))


def check_registered(name: str | None, setting: str, field: str) -> None:
    """Refuse (ValidationError naming ``field``) a learner name not registered here."""
    if name is not None:
        registered = registered_learners(setting)
        if name not in registered:
            raise ValidationError(field, unknown_learner(name, registered))


def unknown_learner(name: str, registered: Mapping[str, str]) -> str:
    """The message for a learner name that is not registered here."""
    names = ", ".join(registered) or "none"
    if ":" in name:
        return (
            f"{name!r} is an import path; a schedule names a learner the operator registered "
            f"(registered: {names})"
        )
    return f"{name!r} is not a registered learner (registered: {names})"

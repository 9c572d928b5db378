"""The declared version floors of the libraries tasksched leans on most, as pip constraints.

    python .ci/floors.py             # prints name==floor lines (a constraints file)
    python .ci/floors.py --check     # exit 1 unless this interpreter has exactly those versions

The floors are read from pyproject.toml's dependencies (the ``>=`` bound of each), so the
lowest-versions step of ``.ci/run`` tests what the project declares, whatever it declares.
"""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
# The cron library is whichever of the two pyproject.toml declares.
FLOORED = ("celery", "kombu", "redis", "croniter", "cronsim", "pydantic", "pydantic-settings",
           "fastapi")  # fmt: skip
REQUIRED = ("celery", "kombu", "redis", "pydantic", "pydantic-settings", "fastapi")


def floors() -> dict[str, str]:
    """name -> the version of its ``>=`` bound in pyproject.toml's dependencies."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    out: dict[str, str] = {}
    for line in project["dependencies"]:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        if name not in FLOORED:
            continue
        lower = [s.version for s in req.specifier if s.operator == ">="]
        if not lower:
            raise SystemExit(f"{name} has no declared floor (>=) in pyproject.toml")
        out[name] = lower[0]
    missing = [n for n in REQUIRED if n not in out]
    if missing or not ({"croniter", "cronsim"} & set(out)):
        raise SystemExit(f"no floor declared for {missing or 'the cron library'}")
    return out


def main(argv: list[str]) -> int:
    wanted = floors()
    if "--check" not in argv:
        print("\n".join(f"{name}=={v}" for name, v in sorted(wanted.items())))
        return 0
    wrong = []
    for name, v in sorted(wanted.items()):
        try:
            have = version(name)
        except PackageNotFoundError:
            have = "(not installed)"
        print(f"{name:18} declared >= {v:8} installed {have}")
        if have == "(not installed)" or Version(have) != Version(v):
            wrong.append(name)
    if wrong:
        print(f"not at their floors: {', '.join(wrong)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

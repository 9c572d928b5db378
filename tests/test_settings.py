"""docs/configuration.md documents every Settings field with its real default."""

from __future__ import annotations

import re

from pydantic_core import PydanticUndefined

from tasksched.settings import Settings
from tests.helpers import ROOT

DOC = (ROOT / "docs" / "configuration.md").read_text()
ROWS = dict(re.findall(r"^\| `(TASKSCHED_[A-Z0-9_]+)` \| ([^|]+) \|", DOC, flags=re.M))


def test_every_setting_is_documented_with_its_default() -> None:
    for field_name, f in Settings.model_fields.items():
        name = "TASKSCHED_" + field_name.upper()
        assert name in ROWS, f"{name} is not documented in docs/configuration.md"
        if f.default is PydanticUndefined:  # a computed default: the row explains it
            continue
        cell = ROWS[name].strip()
        documented = "" if cell == "(empty)" else cell.strip("`")
        parsed = getattr(Settings.from_env({name: documented}), field_name)
        assert parsed == f.default, f"{name}: documented {cell}, default is {f.default!r}"


def test_no_documented_variable_is_stale() -> None:
    names = {"TASKSCHED_" + name.upper() for name in Settings.model_fields}
    assert set(ROWS) - names == set()

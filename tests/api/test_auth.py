"""API keys: key files and inline keys, bad settings naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasksched.api.auth import KeyRing
from tasksched.errors import ValidationError


def test_key_file_and_inline_keys(tmp_path: Path) -> None:
    f = tmp_path / "keys"
    f.write_text("# team keys\nalpha-key = acme\n\nroot-key=*\n")
    ring = KeyRing.from_setting(str(f))
    assert len(ring) == 2
    acme = ring.lookup("alpha-key")
    assert acme is not None and acme.tenant_id == "acme" and not acme.is_admin
    root = ring.lookup("root-key")
    assert root is not None and root.is_admin
    assert ring.lookup("alpha-key ") is None and ring.lookup("") is None
    inline = KeyRing.from_setting("k1=acme,k2=globex,k3=*")
    assert inline.lookup("k2") is not None and inline.lookup("k2").tenant_id == "globex"  # type: ignore[union-attr]
    assert KeyRing.from_setting("").open


@pytest.mark.parametrize(
    "value",
    ["k1=acme,k1=globex", "k1=", "=acme", "k1=bad tenant!", "/no/such/file", "k 1=acme"],
)
def test_bad_key_settings_name_the_variable(value: str) -> None:
    with pytest.raises(ValidationError) as exc:
        KeyRing.from_setting(value)
    assert exc.value.field.startswith("TASKSCHED_API_KEYS")

"""docs/configuration.md documents every Settings field with its real default."""

from __future__ import annotations

import re

import pytest
from pydantic_core import PydanticUndefined

from tasksched.errors import ValidationError
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


def test_the_old_webhook_variable_still_allows_private_webhooks_only() -> None:
    old = Settings.from_env({"TASKSCHED_WEBHOOK_ALLOW_PRIVATE": "1"})
    assert old.webhook_private_allowed is True and old.allow_private_targets is False
    new = Settings.from_env({"TASKSCHED_ALLOW_PRIVATE_TARGETS": "1"})
    assert new.webhook_private_allowed is True and new.allow_private_targets is True
    hosts = Settings.from_env({"TASKSCHED_SMTP_ALLOWED_HOSTS": " Relay.Corp.Example. ,mx2"})
    assert hosts.smtp_allowed_host_set == {"relay.corp.example", "mx2"}


def test_the_api_bind_rule_lives_below_api_and_cli() -> None:
    from tasksched.errors import ValidationError
    from tasksched.settings import check_api_bind

    keyless = Settings()
    for host in ("127.0.0.1", "::1", "[::1]", "localhost", "127.8.9.10"):
        check_api_bind(keyless, host)
    for host in ("0.0.0.0", "::", "192.168.1.5", "example.com"):
        with pytest.raises(ValidationError) as err:
            check_api_bind(keyless, host)
        assert err.value.field == "TASKSCHED_API_HOST"
    check_api_bind(Settings(api_keys="k=*"), "0.0.0.0")  # with keys: any address


def test_transport_options_are_a_json_object_from_the_environment() -> None:
    s = Settings.from_env(
        {
            "TASKSCHED_REDIS_URL": "sentinel://h1:26379;sentinel://h2:26379",
            "TASKSCHED_BROKER_TRANSPORT_OPTIONS": '{"master_name": "mymaster", "x": 1}',
        }
    )
    assert s.broker_transport_options == {"master_name": "mymaster", "x": 1}
    assert s.sentinel_master == "mymaster"
    assert s.effective_broker_url == "sentinel://h1:26379;sentinel://h2:26379"
    assert s.effective_broker_transport_options == {
        "visibility_timeout": s.effective_visibility_timeout_s,
        "master_name": "mymaster",
        "x": 1,
    }


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"'])
def test_bad_transport_options_name_the_variable(raw: str) -> None:
    with pytest.raises(ValidationError) as err:
        Settings.from_env({"TASKSCHED_BROKER_TRANSPORT_OPTIONS": raw})
    assert err.value.field == "TASKSCHED_BROKER_TRANSPORT_OPTIONS"


def test_a_sentinel_store_gives_the_broker_kombus_form() -> None:
    s = Settings(redis_url="sentinel://h1:26379,h2:26379/mymaster")
    assert s.effective_broker_url == "sentinel://h1:26379;sentinel://h2:26379"
    assert s.effective_broker_transport_options["master_name"] == "mymaster"
    # A broker of its own keeps only what was asked for.
    own = s.replace(broker_url="redis://b:6379/0", broker_transport_options={"a": 1})
    assert own.effective_broker_url == "redis://b:6379/0"
    assert "master_name" not in own.effective_broker_transport_options
    assert own.effective_broker_transport_options["a"] == 1

"""Redis URL forms: both Sentinel spellings, and the broker URL a store URL implies."""

from __future__ import annotations

import pytest

from tasksched.errors import ValidationError
from tasksched.urls import SentinelTarget, broker_for, parse_sentinel


def test_tasksched_sentinel_form() -> None:
    assert parse_sentinel("sentinel://:p%40ss@h1:26379,h2:26380/mymaster/3") == SentinelTarget(
        hosts=(("h1", 26379), ("h2", 26380)), master="mymaster", db=3, password="p@ss"
    )
    assert parse_sentinel("sentinel://h1,h2:1/m") == SentinelTarget(
        hosts=(("h1", 26379), ("h2", 1)), master="m"
    )


def test_kombu_sentinel_form_takes_master_name_apart() -> None:
    url = "sentinel://:pw@h1:26379/2;sentinel://:pw@h2:26380/2"
    assert parse_sentinel(url, "mymaster") == SentinelTarget(
        hosts=(("h1", 26379), ("h2", 26380)), master="mymaster", db=2, password="pw"
    )
    with pytest.raises(ValidationError) as err:
        parse_sentinel("sentinel://h1:26379;sentinel://h2:26379")
    assert err.value.field == "TASKSCHED_REDIS_URL" and "master_name" in err.value.message


@pytest.mark.parametrize(
    "url, message",
    [
        ("sentinel://h1:26379,h2:26379", "master name"),
        ("sentinel://h1:port/m", "bad sentinel address"),
        ("sentinel://h1:26379/m/zero", "bad database number"),
    ],
)
def test_bad_sentinel_urls_name_the_variable(url: str, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_sentinel(url)
    assert err.value.field == "TASKSCHED_REDIS_URL" and message in err.value.message


def test_the_broker_for_a_sentinel_store_is_kombus_form_with_master_name() -> None:
    url, options = broker_for("sentinel://:pw@h1:26379,h2:26380/mymaster/1")
    assert url == "sentinel://:pw@h1:26379/1;sentinel://:pw@h2:26380/1"
    assert options == {"master_name": "mymaster", "sentinel_kwargs": {"password": "pw"}}
    kombu_form = "sentinel://h1:26379;sentinel://h2:26379"
    assert broker_for(kombu_form, "m") == ("sentinel://h1:26379;sentinel://h2:26379", {
        "master_name": "m"
    })


def test_plain_tls_and_socket_brokers() -> None:
    tls = "rediss://:pw@h:6380/2?ssl_cert_reqs=required&ssl_ca_certs=/etc/ca.pem"
    assert broker_for(tls) == (tls, {})
    assert broker_for("redis://h:6379/0") == ("redis://h:6379/0", {})
    assert broker_for("unix:///run/redis.sock?db=2") == (
        "redis+socket:///run/redis.sock?virtual_host=2", {}
    )
    assert broker_for("unix:///run/redis.sock") == ("redis+socket:///run/redis.sock", {})


def test_a_cluster_cannot_be_the_broker() -> None:
    with pytest.raises(ValidationError) as err:
        broker_for("redis+cluster://h:7000")
    assert err.value.field == "TASKSCHED_BROKER_URL"

"""The outbound guard: which addresses a tenant's webhook or SMTP host may resolve to."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tasksched.notify import outbound
from tasksched.notify.outbound import OutboundRefused, check_address, forbidden_reason


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("127.0.0.5", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.5.4", "private"),
        ("192.168.0.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fec0::1", "site-local"),
        ("240.0.0.1", "reserved"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        # IPv4 inside IPv6: mapped, compatible, 6to4, NAT64, Teredo
        ("::ffff:127.0.0.1", "loopback (an IPv4 address inside an IPv6 one)"),
        ("::ffff:10.0.0.1", "private (an IPv4 address inside an IPv6 one)"),
        ("::127.0.0.1", "loopback (an IPv4 address inside an IPv6 one)"),
        ("2002:7f00:1::", "loopback (an IPv4 address inside an IPv6 one)"),
        ("2002:a9fe:a9fe::1", "link-local (an IPv4 address inside an IPv6 one)"),
        ("64:ff9b::a00:1", "private (an IPv4 address inside an IPv6 one)"),
        ("64:ff9b::808:808", None),  # NAT64 of a public address
        ("::ffff:8.8.8.8", None),
        ("2002:808:808::1", None),  # 6to4 of a public address
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private (an IPv4 address inside an IPv6 one)"),
        ("fe80::1%eth0", "link-local"),
    ],
)
def test_forbidden_reason_table(address: str, reason: str | None) -> None:
    assert forbidden_reason(address) == reason


def _resolver(answers: list[str]) -> Any:
    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers]

    return fake


def test_every_address_of_a_name_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    # One public and one private answer: refused (the connection could go to either).
    monkeypatch.setattr(outbound.socket, "getaddrinfo", _resolver(["8.8.8.8", "10.0.0.7"]))
    with pytest.raises(OutboundRefused) as err:
        check_address("webhook", "mixed.example", 443)
    assert err.value.retryable is False
    assert "private" in str(err.value) and "10.0.0.7" not in str(err.value)  # no address echoed


def test_the_checked_address_is_the_one_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbound.socket, "getaddrinfo", _resolver(["8.8.4.4", "8.8.8.8"]))
    assert check_address("webhook", "public.example", 443) == "8.8.4.4"


def test_the_operator_may_allow_private_or_list_a_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbound.socket, "getaddrinfo", _resolver(["10.0.0.25"]))
    assert check_address("email", "relay.internal", 25, allow_private=True) == "10.0.0.25"
    assert check_address("email", "Relay.Internal.", 25, allowed_hosts={"relay.internal"}) == (
        "10.0.0.25"
    )
    with pytest.raises(OutboundRefused):
        check_address("email", "other.internal", 25, allowed_hosts={"relay.internal"})

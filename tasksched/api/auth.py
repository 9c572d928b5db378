"""API keys: each bound to one tenant or to admin (``*``), sent as ``Authorization: Bearer``.

``TASKSCHED_API_KEYS`` is either an inline list (``k1=acme,k2=globex,k3=*``) or the path of a
file with one ``key=tenant`` per line (blank lines and ``#`` comments ignored). Without any key
the API is *open*: it serves loopback clients only and every request acts as admin (local
development; see docs/api.md).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from tasksched.errors import ValidationError
from tasksched.models import validate_tenant_id

ADMIN = "*"
SETTING = "TASKSCHED_API_KEYS"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant's key, an admin key, or anyone on loopback in open mode."""

    tenant_id: str | None  # None: admin (every tenant)
    key_id: str  # a short fingerprint of the key, safe to log ("open" in open mode)

    @property
    def is_admin(self) -> bool:
        """True for admin keys and for open mode."""
        return self.tenant_id is None

    def scope(self, requested: str | None = None) -> str | None:
        """The tenant a call is limited to: the key's own tenant, or ``requested`` for admin."""
        return requested if self.is_admin else self.tenant_id


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def fingerprint(key: str) -> str:
    """A short, non-reversible id of a key for logs."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:8]


class KeyRing:
    """The configured keys; lookups compare every stored digest in constant time."""

    def __init__(self, entries: dict[str, str]):
        self._entries = [(_digest(k), tenant, fingerprint(k)) for k, tenant in entries.items()]

    @property
    def open(self) -> bool:
        """True when no key is configured (loopback-only, everyone is admin)."""
        return not self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, presented: str) -> Principal | None:
        """The principal of ``presented``, or None when it matches no key."""
        digest = _digest(presented)
        found: Principal | None = None
        # No early exit: the time taken does not depend on which key (if any) matched.
        for stored, tenant, fp in self._entries:
            if hmac.compare_digest(stored, digest):
                found = Principal(None if tenant == ADMIN else tenant, fp)
        return found

    @classmethod
    def from_setting(cls, value: str) -> KeyRing:
        """Parse ``TASKSCHED_API_KEYS``: inline ``key=tenant`` pairs or a file path."""
        value = value.strip()
        if not value:
            return cls({})
        if "=" in value and not value.startswith(("/", ".", "~")):
            return cls(parse_pairs(value.split(","), SETTING))
        path = Path(value).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            message = f"cannot read key file {value!r}: {exc.strerror}"
            raise ValidationError(SETTING, message) from None
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        entries = parse_pairs(lines, f"{SETTING} ({path})")
        if not entries:
            raise ValidationError(SETTING, f"key file {value!r} holds no key")
        return cls(entries)


def parse_pairs(items: list[str], where: str) -> dict[str, str]:
    """``key=tenant`` items as a dict; raises ValidationError naming ``where``."""
    out: dict[str, str] = {}
    for n, raw in enumerate(items, 1):
        item = raw.strip()
        if not item:
            continue
        key, sep, tenant = item.rpartition("=")
        key, tenant = key.strip(), tenant.strip()
        if not sep or not key:
            raise ValidationError(where, f"entry {n} is not 'key=tenant'")
        if any(ch.isspace() for ch in key) or not key.isprintable():
            raise ValidationError(where, f"entry {n}: a key must not contain spaces")
        if tenant != ADMIN:
            try:
                validate_tenant_id(tenant)
            except ValueError as exc:
                raise ValidationError(where, f"entry {n}: tenant {exc}") from None
        if key in out:
            raise ValidationError(where, f"entry {n}: the same key is listed twice")
        out[key] = tenant
    return out


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback addresses."""
    if not host:
        return False
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback

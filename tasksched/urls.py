"""Redis URL forms, read without connecting (pure): Sentinel's two forms and the broker's URL.

The store (redis-py) and the broker (kombu) spell the same Redis differently:

* ``redis://``, ``rediss://`` (TLS; ``?ssl_ca_certs=...&ssl_cert_reqs=required`` is read by
  both), ``unix:///path.sock?db=N`` (kombu: ``redis+socket:///path.sock?virtual_host=N``);
* Sentinel, tasksched's form ``sentinel://[[user]:pw@]h1:26379,h2:26379/mymaster[/db]`` and
  kombu's ``sentinel://[:pw@]h1:26379[/db];sentinel://h2:26379`` with the transport option
  ``master_name``. Both are accepted everywhere; the broker is always given kombu's form.

:func:`broker_for` turns the store's URL into the broker URL and transport options Celery
needs when ``TASKSCHED_BROKER_URL`` is empty ("the broker is the store's Redis").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tasksched.errors import ValidationError

__all__ = ["SentinelTarget", "broker_for", "is_sentinel", "parse_sentinel", "scheme_of"]

DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelTarget:
    """A master watched by Sentinel: where the sentinels are, its name, db and credentials.

    ``password`` (and ``username``) authenticate to the master and, as before, to the
    sentinels themselves (tasksched's form has one password for both).
    """

    hosts: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def scheme_of(url: str) -> str:
    """The URL's scheme in lower case (``redis``, ``sentinel``, ...); '' when there is none."""
    return url.split("://", 1)[0].lower() if "://" in url else ""


def is_sentinel(url: str) -> bool:
    """True for either Sentinel form."""
    return scheme_of(url) == "sentinel"


def _host_port(text: str, field: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    try:
        return host or "localhost", int(port or DEFAULT_SENTINEL_PORT)
    except ValueError:
        raise ValidationError(field, f"bad sentinel address {text!r} (host:port)") from None


def parse_sentinel(
    url: str, master_name: str | None = None, field: str = "TASKSCHED_REDIS_URL"
) -> SentinelTarget:
    """Read either Sentinel form; kombu's needs ``master_name`` (its ``master_name`` option).

    Raises :class:`~tasksched.errors.ValidationError` naming ``field`` when the URL cannot
    name a master.
    """
    if ";" in url:  # kombu's form: one sentinel:// URL per sentinel, options apart
        parts = [urlsplit(p.strip()) for p in url.split(";") if p.strip()]
        if not master_name:
            raise ValidationError(
                field,
                "kombu's sentinel form (sentinel://h1:26379;sentinel://h2:26379) needs "
                'master_name: TASKSCHED_BROKER_TRANSPORT_OPTIONS={"master_name": "mymaster"}',
            )
        first = parts[0]
        hosts = tuple(_host_port(p.netloc.rsplit("@", 1)[-1], field) for p in parts)
        db_text = first.path.strip("/") or parse_qs(first.query).get("db", ["0"])[0]
        master = master_name
    else:
        first = urlsplit(url)
        netloc = first.netloc.rsplit("@", 1)[-1]
        hosts = tuple(_host_port(hp, field) for hp in netloc.split(",") if hp)
        path = [p for p in first.path.split("/") if p]
        if not path and not master_name:
            raise ValidationError(field, "sentinel URL needs a master name: /mymaster")
        master = path[0] if path else str(master_name)
        db_text = path[1] if len(path) > 1 else parse_qs(first.query).get("db", ["0"])[0]
    try:
        db = int(db_text)
    except ValueError:
        raise ValidationError(field, f"bad database number {db_text!r}") from None
    if not hosts:
        raise ValidationError(field, "sentinel URL names no sentinel (host:port)")
    return SentinelTarget(
        hosts=hosts,
        master=master,
        db=db,
        username=unquote(first.username) if first.username else None,
        password=unquote(first.password) if first.password else None,
    )


def _kombu_sentinel_url(target: SentinelTarget) -> str:
    auth = ""
    if target.password is not None:
        auth = f"{quote(target.username or '', safe='')}:{quote(target.password, safe='')}@"
    db = f"/{target.db}" if target.db else ""
    return ";".join(f"sentinel://{auth}{host}:{port}{db}" for host, port in target.hosts)


def broker_for(store_url: str, master_name: str | None = None) -> tuple[str, dict[str, Any]]:
    """The broker URL (kombu's spelling) and transport options for the store's own Redis.

    Sentinel gets kombu's form with ``master_name`` (and, with a password, the same password
    for the sentinels, as the store uses it); a unix socket gets ``redis+socket://``; plain
    and TLS URLs are the same for both. A Redis Cluster cannot be Celery's broker: raises
    :class:`~tasksched.errors.ValidationError` asking for ``TASKSCHED_BROKER_URL``.
    """
    scheme = scheme_of(store_url)
    if scheme == "sentinel":
        target = parse_sentinel(store_url, master_name)
        options: dict[str, Any] = {"master_name": target.master}
        if target.password is not None:
            options["sentinel_kwargs"] = {"password": target.password}
        return _kombu_sentinel_url(target), options
    if scheme == "unix":
        parts = urlsplit(store_url)
        db = parse_qs(parts.query).get("db", ["0"])[0]
        query = f"?virtual_host={db}" if db not in ("", "0") else ""
        return f"redis+socket://{parts.path}{query}", {}
    if scheme in ("redis+cluster", "cluster"):
        raise ValidationError(
            "TASKSCHED_BROKER_URL",
            "Celery's broker cannot be a Redis Cluster: set TASKSCHED_BROKER_URL to another broker",
        )
    return store_url, {}

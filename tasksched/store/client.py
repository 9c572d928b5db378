"""Connecting to Redis (plain, TLS, unix socket, Sentinel, Cluster), and translating its errors.

Every client made here raises tasksched's own errors instead of redis-py's: a lost or refused
connection, a timeout, a replica or a loading server becomes
:class:`~tasksched.errors.StoreUnavailableError`; a command Redis refused (a script error, a
wrong type) :class:`~tasksched.errors.StoreError`. Callers outside ``store/`` never see redis-py.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.client import Pipeline
from redis.exceptions import (
    BusyLoadingError,
    ClusterDownError,
    NoScriptError,
    ReadOnlyError,
    RedisError,
    TryAgainError,
    WatchError,
)
from redis.retry import Retry

from tasksched.errors import StoreError, StoreUnavailableError, ValidationError
from tasksched.urls import SentinelTarget, parse_sentinel

# Errors that say "Redis cannot be reached or cannot serve now": worth waiting for.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    BusyLoadingError,
    ReadOnlyError,
    ClusterDownError,
    TryAgainError,
)
# redis-py handles these itself (script reload, optimistic transaction retry): never translated.
_PASS_THROUGH: tuple[type[BaseException], ...] = (NoScriptError, WatchError)


def translate(exc: RedisError) -> StoreError:
    """tasksched's error for a redis-py error."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, UNAVAILABLE):
        return StoreUnavailableError(f"Redis is unavailable ({text})")
    return StoreError(f"Redis refused a command ({text})")


class _Translating:
    """Mixin: redis-py errors leave as tasksched's (see :func:`translate`)."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute_command(*args, **options)  # type: ignore[misc]
        except _PASS_THROUGH:
            raise
        except RedisError as exc:
            raise translate(exc) from exc


class StorePipeline(_Translating, Pipeline):  # type: ignore[misc]
    """A pipeline whose ``execute`` raises tasksched's errors."""

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Run the queued commands (see redis-py); errors translated."""
        try:
            return super().execute(raise_on_error)  # type: ignore[no-any-return]
        except _PASS_THROUGH:
            raise
        except RedisError as exc:
            raise translate(exc) from exc


class StoreRedis(_Translating, redis.Redis):  # type: ignore[misc]
    """A redis-py client whose commands, pipelines and scripts raise tasksched's errors."""

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> StorePipeline:
        """A pipeline (MULTI/EXEC when ``transaction``) with translated errors."""
        return StorePipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


Redis = redis.Redis


# Long-lived processes (beat, workers) reconnect by themselves across a redis-server restart
# or failover: about 30 s of retries. Request handlers and commands pass fewer, to fail fast.
DEFAULT_RETRIES = 20


def _common(retries: int = DEFAULT_RETRIES, health_check_interval: int = 15) -> dict[str, Any]:
    return {
        "decode_responses": True,
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=retries),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
        "health_check_interval": health_check_interval,
        "socket_keepalive": True,
    }


def connect(
    url: str, retries: int = DEFAULT_RETRIES, master_name: str | None = None
) -> redis.Redis:
    """Return a client for ``url`` that retries a lost connection ``retries`` times.

    * ``redis://[:password@]host:port/db``, ``rediss://...`` (TLS: ``?ssl_ca_certs=ca.pem&
      ssl_cert_reqs=required``), ``unix:///path.sock?db=0``
    * ``sentinel://[:password@]host1:26379,host2:26379/master_name[/db]``, or kombu's
      ``sentinel://[:password@]host1:26379[/db];sentinel://host2:26379`` with ``master_name``:
      the master that Sentinel names, found again after a failover.
    * ``redis+cluster://host:port``: a Redis Cluster (keys share one hash tag, so scripts run).
    """
    parts = urlsplit(url.split(";", 1)[0])
    scheme = parts.scheme.lower()
    if scheme in ("redis", "rediss"):
        return StoreRedis.from_url(url, **_common(retries))
    if scheme == "unix":  # keepalive is a TCP option: a socket's connection refuses it
        options = _common(retries)
        del options["socket_keepalive"]
        return StoreRedis.from_url(url, **options)
    if scheme == "sentinel":
        return _sentinel(parse_sentinel(url, master_name), retries)
    if scheme in ("redis+cluster", "cluster"):
        from redis.cluster import RedisCluster

        host = parts.hostname or "localhost"
        port = parts.port or 6379
        return RedisCluster(  # type: ignore[return-value]
            host=host, port=port, password=parts.password, decode_responses=True
        )
    raise ValidationError("TASKSCHED_REDIS_URL", f"unsupported Redis URL scheme {scheme!r}")


def _sentinel(target: SentinelTarget, retries: int) -> redis.Redis:
    from redis.sentinel import Sentinel

    auth = {"username": target.username, "password": target.password}
    sentinel_auth = {k: v for k, v in auth.items() if v is not None}
    sentinel = Sentinel(list(target.hosts), sentinel_kwargs=sentinel_auth or None)
    client: redis.Redis = sentinel.master_for(
        target.master, redis_class=StoreRedis, db=target.db, **sentinel_auth, **_common(retries)
    )
    return client

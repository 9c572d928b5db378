"""Encryption of schedule secrets at rest (Fernet, key from ``TASKSCHED_SECRET_KEY``).

Rotation: set the new key as ``TASKSCHED_SECRET_KEY`` and the old one as
``TASKSCHED_SECRET_KEY_PREVIOUS`` (both decrypt, the new one encrypts), then run
``tasksched secrets rotate`` (:func:`rotate`), which re-encrypts every stored secret under the
new key, all or nothing; afterwards the previous key can be dropped.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from tasksched.errors import SecretDecryptError, SecretKeyMissingError, StoreError

if TYPE_CHECKING:
    from tasksched.store import Store


class SecretBox:
    """Encrypts and decrypts JSON documents. Several comma-separated keys allow rotation:
    the first encrypts, any decrypts; ``previous`` keys (``TASKSCHED_SECRET_KEY_PREVIOUS``)
    decrypt too."""

    def __init__(self, secret_key: str, previous: str = ""):
        self._fernet: MultiFernet | None = None
        keys = [k.strip() for k in secret_key.split(",") if k.strip()]
        if keys:
            keys += [k.strip() for k in previous.split(",") if k.strip() and k.strip() not in keys]
        if keys:
            try:
                self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
            except (ValueError, TypeError):
                raise SecretKeyMissingError(
                    "TASKSCHED_SECRET_KEY is not a valid Fernet key (32 url-safe base64 bytes)"
                ) from None

    @property
    def available(self) -> bool:
        """True when a key is configured."""
        return self._fernet is not None

    def encrypt(self, document: dict[str, Any]) -> str:
        """Encrypt a JSON-serialisable document; raises SecretKeyMissingError without a key."""
        if self._fernet is None:
            raise SecretKeyMissingError()
        return self._fernet.encrypt(json.dumps(document).encode()).decode()

    def decrypt(self, token: str) -> dict[str, Any]:
        """Decrypt what :meth:`encrypt` made."""
        if self._fernet is None:
            raise SecretKeyMissingError()
        try:
            data = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise SecretDecryptError(
                "stored secrets cannot be decrypted with TASKSCHED_SECRET_KEY (wrong key?)"
            ) from None
        if not isinstance(data, dict):
            raise SecretDecryptError("stored secrets are not a JSON object")
        return data

    def rotate_token(self, token: str) -> str:
        """``token`` re-encrypted under the first key (decrypted with any key)."""
        if self._fernet is None:
            raise SecretKeyMissingError()
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretDecryptError(
                "a stored secret cannot be decrypted with TASKSCHED_SECRET_KEY or "
                "TASKSCHED_SECRET_KEY_PREVIOUS"
            ) from None


def rotate(store: Store, attempts: int = 5) -> int:
    """Re-encrypt every schedule's secrets under the store's first key; return how many.

    All or nothing: every token is re-encrypted in memory first (one that no configured key
    opens stops the rotation before anything is written, naming its schedule), then all are
    written in one MULTI/EXEC guarded by WATCH on every schedule; a schedule changed meanwhile
    makes it start again (up to ``attempts`` times).
    """
    from redis.exceptions import WatchError

    k = store.keys
    for _ in range(attempts):
        ids = [sid for t in store.schedules.tenants() for sid in store.redis.smembers(k.tenant(t))]
        keys = [k.schedule(sid) for sid in ids]
        with store.redis.pipeline(transaction=True) as tx:
            if keys:
                tx.watch(*keys)
            reads = store.redis.pipeline(transaction=False)
            for key in keys:
                reads.hget(key, "secrets")
            tokens = reads.execute() if keys else []
            rotated: dict[str, str] = {}
            for sid, key, token in zip(ids, keys, tokens, strict=True):
                if not token:
                    continue
                try:
                    rotated[key] = store.box.rotate_token(token)
                except SecretDecryptError as exc:
                    raise SecretDecryptError(f"schedule {sid}: {exc}") from None
            tx.multi()
            for key, token in rotated.items():
                tx.hset(key, "secrets", token)
            try:
                tx.execute()
            except WatchError:
                continue  # a schedule changed while we read: start again
            return len(rotated)
    raise StoreError(f"schedules kept changing: rotation gave up after {attempts} tries")

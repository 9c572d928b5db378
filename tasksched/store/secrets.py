"""Encryption of schedule secrets at rest (Fernet, key from ``TASKSCHED_SECRET_KEY``)."""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from tasksched.errors import SecretDecryptError, SecretKeyMissingError


class SecretBox:
    """Encrypts and decrypts JSON documents. Several comma-separated keys allow rotation:
    the first encrypts, any decrypts."""

    def __init__(self, secret_key: str):
        self._fernet: MultiFernet | None = None
        keys = [k.strip() for k in secret_key.split(",") if k.strip()]
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

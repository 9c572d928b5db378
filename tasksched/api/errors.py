"""Every error as JSON: ``{"error": {"type", "message", "field", "errors": [...]}}``.

Invalid input is 422 (never 500): FastAPI's request validation, pydantic errors and
tasksched's ``ValidationError`` all name the offending field.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import pydantic
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tasksched.errors import (
    ConflictError,
    NotFoundError,
    SecretDecryptError,
    SecretKeyMissingError,
    StoreError,
    StoreUnavailableError,
    ValidationError,
)

log = logging.getLogger("tasksched.api")

_HTTP_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    503: "unavailable",
}


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: whatever a string holds (even a value
    stored before input was checked), the response can always be encoded."""

    def render(self, content: Any) -> bytes:
        """Compact JSON, ASCII only."""
        return json.dumps(
            content, ensure_ascii=True, allow_nan=False, separators=(",", ":")
        ).encode("ascii")


class ApiError(Exception):
    """Raised by routes and dependencies for an HTTP error with the standard JSON body."""

    def __init__(
        self,
        status_code: int,
        type_: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.status_code = status_code
        self.type = type_
        self.message = message
        self.field = field
        self.headers = headers
        super().__init__(message)


def error_body(
    type_: str,
    message: str,
    field: str | None = None,
    errors: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The JSON error document."""
    errs = list(errors) if errors else ([{"field": field, "message": message}] if field else [])
    return {"error": {"type": type_, "message": message, "field": field, "errors": errs}}


def _respond(
    status: int,
    type_: str,
    message: str,
    field: str | None = None,
    errors: Sequence[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return AsciiJSONResponse(error_body(type_, message, field, errors), status, headers=headers)


def _loc(loc: Sequence[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or str(loc[0] if loc else "body")


def _pydantic_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        field = _loc(err.get("loc", ()))
        sub = str((err.get("ctx") or {}).get("subpath") or "")
        if sub:  # a rule that names a place inside the field (models.base.check_text)
            if field in ("body", "query", "path", "header", "cookie"):  # the whole body's rule
                field = ""
            field = field + sub if sub.startswith("[") or not field else f"{field}.{sub}"
        out.append({"field": field, "message": msg})
    return out


def validation_response(errors: list[dict[str, Any]]) -> JSONResponse:
    """A 422 naming the first field, with every problem under ``errors``."""
    first = errors[0] if errors else {"field": None, "message": "invalid input"}
    field, text = first["field"], str(first["message"])
    message = f"{field}: {text}" if field else text
    return _respond(422, "validation_error", message, field, errors)


def install(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _respond(exc.status_code, exc.type, exc.message, exc.field, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(_pydantic_errors(exc.errors()))

    @app.exception_handler(pydantic.ValidationError)
    async def _pydantic(request: Request, exc: pydantic.ValidationError) -> JSONResponse:
        return validation_response(_pydantic_errors(exc.errors()))

    @app.exception_handler(ValidationError)
    async def _validation(request: Request, exc: ValidationError) -> JSONResponse:
        return validation_response([dict(e) for e in exc.errors])

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return _respond(404, "not_found", str(exc), exc.kind + "_id")

    @app.exception_handler(ConflictError)
    async def _conflict(request: Request, exc: ConflictError) -> JSONResponse:
        # A stale If-Match is a failed precondition (412); a stale body version a conflict.
        by_header = bool(request.headers.get("if-match"))
        status, type_ = (412, "precondition_failed") if by_header else (409, "conflict")
        field = "If-Match" if by_header else "version"
        return _respond(status, type_, str(exc), field, headers={"ETag": etag(exc.actual_version)})

    @app.exception_handler(SecretKeyMissingError)
    async def _no_key(request: Request, exc: SecretKeyMissingError) -> JSONResponse:
        return _respond(422, "secret_key_missing", str(exc), "TASKSCHED_SECRET_KEY")

    @app.exception_handler(SecretDecryptError)
    async def _decrypt(request: Request, exc: SecretDecryptError) -> JSONResponse:
        log.error("stored secrets cannot be decrypted: %s", exc)
        return _respond(
            500,
            "secret_decrypt_error",
            "stored secrets cannot be decrypted with the configured TASKSCHED_SECRET_KEY",
            "TASKSCHED_SECRET_KEY",
        )

    @app.exception_handler(StoreUnavailableError)
    async def _store_unavailable(request: Request, exc: StoreUnavailableError) -> JSONResponse:
        log.error("store unavailable: %s", exc)
        return _respond(503, "unavailable", "the store (Redis) is unavailable")

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        log.error("store error: %s", exc)
        return _respond(500, "store_error", "the store refused the request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        type_ = _HTTP_TYPES.get(exc.status_code, "http_error")
        headers = dict(exc.headers) if exc.headers else None
        return _respond(exc.status_code, type_, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _respond(500, "internal_error", "internal error")


def etag(version: int) -> str:
    """The ETag of a schedule version: a strong tag, ``"<version>"``."""
    return f'"{version}"'


def parse_if_match(value: str) -> int | None:
    """The version named by an ``If-Match`` header (None for ``*``); raises ApiError 422."""
    v = value.strip()
    if v == "*":
        return None
    v = v.removeprefix("W/")
    if len(v) >= 2 and v[0] == v[-1] == '"':
        v = v[1:-1]
    if not v.isdigit() or len(v) > 18:
        raise ApiError(
            422, "validation_error", 'If-Match: must be an ETag of this API, e.g. "3"', "If-Match"
        )
    return int(v)

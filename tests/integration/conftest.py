"""Integration tests: every test under tests/integration/ is marked ``integration``.

They start real processes or servers (redis-server, celery, uvicorn, SMTP, HTTP, ...), so
``pytest -m "not integration"`` leaves them out. Here the ``store`` fixture is always the
session's real redis-server, and the loopback servers of the notification tests live here:
SMTP (aiosmtpd) and HTTP.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import ssl
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tasksched.store import Store
from tests.helpers import free_port
from tests.integration.faults import faulty, proxy  # noqa: F401 - fixtures of the fault tests

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test collected under this directory ``integration``."""
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def store(real_store: Store) -> Store:
    """Under tests/integration/ the store is the real redis-server (no fakeredis variant)."""
    return real_store

SMTP_USER = "mailer"
SMTP_PASSWORD = "smtp-pw-Zq8!secret"
# The Standard Webhooks form: "whsec_" + base64 of the key bytes.
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"Kd93-signing-secret-bytes-0123456789").decode()


def independent_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """The Standard Webhooks signature computed here, without tasksched or its library:
    base64 HMAC-SHA256 over ``id.timestamp.body``, key = base64 after ``whsec_`` (else the
    UTF-8 bytes), with the ``v1,`` prefix."""
    key = (
        base64.b64decode(secret[len("whsec_"):]) if secret.startswith("whsec_")
        else secret.encode()
    )
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()
HEADER_SECRET = "Bearer tok-7781-header-secret"


# ---- certificates ------------------------------------------------------------------------
@dataclass
class Certs:
    """A private CA and a server certificate for localhost / 127.0.0.1 it signed."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_certs(directory: Path) -> Certs:
    """Generate (with ``cryptography``) a CA and a server certificate signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("tasksched test CA"))
        .issuer_name(_name("tasksched test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = (directory / n for n in ("ca.pem", "cert.pem", "key.pem"))
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certs(ca_file, cert_file, key_file)


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A CA and a localhost certificate, made once per session."""
    return make_certs(tmp_path_factory.mktemp("certs"))


# ---- SMTP --------------------------------------------------------------------------------
class Inbox:
    """aiosmtpd handler keeping every message received, and the logins it saw."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.logins: list[str] = []
        self.event = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "data": envelope.content,
                "tls": session.ssl is not None
                or server.transport.get_extra_info("ssl_object") is not None,
                "login": session.auth_data,
            }
        )
        self.event.set()
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(
            success=ok, handled=False, auth_data=auth_data.login.decode() if ok else None
        )


@dataclass
class SmtpServer:
    """One aiosmtpd server on loopback and its inbox."""

    port: int
    inbox: Inbox
    controller: Controller


class QuietController(Controller):
    """A Controller that does not warn about AUTH over plain SMTP (a test of a local relay)."""

    def factory(self) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return super().factory()


def start_smtp(
    certs: Certs | None = None, mode: str = "plain", auth: bool = False
) -> SmtpServer:
    """Start a server: ``plain``, ``starttls`` (required) or ``ssl`` (implicit TLS)."""
    inbox = Inbox()
    port = free_port()
    kwargs: dict[str, Any] = {}
    if mode == "starttls":
        assert certs is not None
        kwargs.update(tls_context=certs.server_context(), require_starttls=True)
    if mode == "ssl":
        assert certs is not None
        kwargs.update(ssl_context=certs.server_context())
    if auth:
        kwargs.update(authenticator=inbox.authenticate, auth_required=True)
        if mode in ("plain", "ssl"):
            # aiosmtpd only knows TLS it negotiated by STARTTLS; implicit TLS is TLS too.
            kwargs.update(auth_require_tls=False)
    controller = QuietController(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return SmtpServer(port, inbox, controller)


@pytest.fixture
def smtp_factory() -> Iterator[Any]:
    """Start SMTP servers on demand; every one is stopped after the test."""
    started: list[SmtpServer] = []

    def factory(certs: Certs | None = None, mode: str = "plain", auth: bool = False) -> SmtpServer:
        server = start_smtp(certs, mode, auth)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.controller.stop()


# ---- HTTP --------------------------------------------------------------------------------
@dataclass
class Hook:
    """A loopback HTTP receiver: answers from a script of status codes, checks signatures."""

    port: int
    secret: str | None = None
    scheme: str = "http"
    host: str = "127.0.0.1"
    script: list[int] = field(default_factory=lambda: [200])
    requests: list[dict[str, Any]] = field(default_factory=list)
    echo_auth: bool = False  # answer errors with the Authorization header (a careless server)
    retry_after: str | None = None  # a Retry-After header on 429/503 answers
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/hook?token=q-secret-123"

    def next_status(self) -> int:
        with self.lock:
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def start_hook(
    secret: str | None = None,
    script: list[int] | None = None,
    certs: Certs | None = None,
    host: str = "127.0.0.1",
) -> Hook:
    """Start a receiver on a free port, serving in a thread (HTTPS with ``certs``)."""
    hook = Hook(port=free_port(), secret=secret, script=list(script or [200]),
                scheme="https" if certs else "http", host=host)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            valid = None
            if hook.secret is not None:  # the receiver checks the Standard Webhooks signature
                expected = independent_signature(
                    hook.secret, self.headers.get("webhook-id", ""),
                    self.headers.get("webhook-timestamp", ""), body,
                )
                valid = hmac.compare_digest(expected, self.headers.get("webhook-signature", ""))
            status = hook.next_status() if valid is not False else 401
            with hook.lock:
                hook.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                        "body": body,
                        "json": json.loads(body),
                        "signature_valid": valid,
                        "status": status,
                        "at": time.monotonic(),
                    }
                )
            reply = b'{"ok": true}' if status < 300 else b"nope"
            if hook.echo_auth and status >= 300:
                reply = f"bad auth {self.headers.get('Authorization')}".encode()
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            if hook.retry_after is not None and status in (429, 503):
                self.send_header("Retry-After", hook.retry_after)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    hook.server = ThreadingHTTPServer((host, hook.port), Handler)
    hook.server.daemon_threads = True
    if certs is not None:
        hook.server.socket = certs.server_context().wrap_socket(
            hook.server.socket, server_side=True
        )
    server = hook.server
    threading.Thread(target=lambda: server.serve_forever(poll_interval=0.02), daemon=True).start()
    return hook


@pytest.fixture
def hook_factory() -> Iterator[Any]:
    """Start HTTP receivers on demand; every one is stopped after the test."""
    started: list[Hook] = []

    def factory(
        secret: str | None = None,
        script: list[int] | None = None,
        certs: Certs | None = None,
        host: str = "127.0.0.1",
    ) -> Hook:
        hook = start_hook(secret, script, certs, host)
        started.append(hook)
        return hook

    yield factory
    for hook in started:
        hook.stop()

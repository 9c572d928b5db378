"""The API served by a real uvicorn on a free loopback port, against the real redis-server."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from tasksched.api import create_app
from tasksched.api.deps import PREFIX
from tasksched.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import RedisServer, free_port, wait_for

ACME_KEY = "acme-key-0123456789abcdef"
GLOBEX_KEY = "globex-key-0123456789abcdef"
ADMIN_KEY = "admin-key-0123456789abcdef"
API_KEYS = f"{ACME_KEY}=acme,{GLOBEX_KEY}=globex,{ADMIN_KEY}=*"


class ServedApi:
    """A FastAPI app served by uvicorn in a thread on a free loopback port."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.app = create_app(settings)
        self.port = free_port()
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + PREFIX

    def start(self) -> ServedApi:
        self.thread.start()
        wait_for(lambda: self.server.started, 15, what="uvicorn to start")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        assert not self.thread.is_alive(), "uvicorn did not stop"
        self.app.state.manager.store.redis.close()

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def api(redis_server: RedisServer) -> Iterator[ServedApi]:
    """The API with three keys (acme, globex, admin), served for the whole module."""
    settings = Settings(redis_url=redis_server.url, secret_key=TEST_SECRET_KEY, api_keys=API_KEYS)
    served = ServedApi(settings).start()
    yield served
    served.stop()


@pytest.fixture(autouse=True)
def _clean_redis(redis_url: str) -> str:
    # Requesting redis_url flushes the shared redis-server before each test.
    return redis_url


def _client(api: ServedApi, key: str | None) -> Iterator[httpx.Client]:
    with api.client(key) as c:
        yield c


@pytest.fixture
def acme(api: ServedApi) -> Iterator[httpx.Client]:
    """A client holding acme's key."""
    yield from _client(api, ACME_KEY)


@pytest.fixture
def globex(api: ServedApi) -> Iterator[httpx.Client]:
    """A client holding globex's key."""
    yield from _client(api, GLOBEX_KEY)


@pytest.fixture
def admin(api: ServedApi) -> Iterator[httpx.Client]:
    """A client holding the admin key."""
    yield from _client(api, ADMIN_KEY)


@pytest.fixture
def anon(api: ServedApi) -> Iterator[httpx.Client]:
    """A client without a key."""
    yield from _client(api, None)


def new_schedule(client: httpx.Client, **fields: object) -> dict[str, object]:
    """Create a schedule through the API; returns the 201 body."""
    body: dict[str, object] = {"name": "nightly", "cron_expression": "0 2 * * *", **fields}
    r = client.post("/schedules", json=body)
    assert r.status_code == 201, r.text
    out: dict[str, object] = r.json()
    return out

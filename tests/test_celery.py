"""configure(app) merges into a user's app; tasksched's options live on tasksched's tasks; every
publish path resolves the same destination through Celery's router. Nothing connects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery
from kombu import Exchange, Queue

import tasksched.tasks.notify  # registers tasksched.notify (shared task)
import tasksched.tasks.training  # noqa: F401 - registers tasksched.train (shared task)
from tasksched.beat.publisher import CeleryPublisher, destination
from tasksched.celery import NOTIFY_TASK, TRAIN_TASK, app_for, configure, create_app
from tasksched.settings import Settings

SETTINGS = Settings(redis_url="redis://127.0.0.1:6399/0")


@pytest.fixture
def user_app() -> Iterator[Celery]:
    """A user's own app: its broker, result backend, queues, routes, defaults and a task."""
    app = Celery("theirs", broker="redis://127.0.0.1:6398/1", set_as_current=False)
    app.conf.update(
        result_backend="redis://127.0.0.1:6398/2",
        task_queues=(Queue("default"), Queue("ml", Exchange("ml", type="direct"), "ml.train")),
        task_default_queue="default",
        task_routes={"theirs.*": {"queue": "default"}, TRAIN_TASK: {"queue": "ml"}},
        broker_transport_options={"master_name": "theirs", "visibility_timeout": 99},
        worker_prefetch_multiplier=8,
        task_acks_late=False,
        task_serializer="json",
    )

    @app.task(name="theirs.add")
    def add(x: int, y: int) -> int:
        return x + y

    yield app
    app.close()


def test_a_users_app_keeps_what_it_has(user_app: Celery) -> None:
    configure(user_app, SETTINGS)
    conf = user_app.conf
    assert conf.broker_url == "redis://127.0.0.1:6398/1"
    assert conf.result_backend == "redis://127.0.0.1:6398/2"
    assert conf.task_default_queue == "default"
    assert conf.worker_prefetch_multiplier == 8 and conf.task_acks_late is False
    # merged: the app's own keys win, tasksched's are added
    assert conf.broker_transport_options == {"master_name": "theirs", "visibility_timeout": 99}
    assert [q.name for q in conf.task_queues] == ["default", "ml", "training", "notifications"]
    assert conf.task_routes[0] == {"theirs.*": {"queue": "default"}, TRAIN_TASK: {"queue": "ml"}}
    assert "tasksched.tasks.training" in conf.include
    # the user's own task keeps the app's defaults
    add = user_app.tasks["theirs.add"]
    assert add.acks_late is False and add.time_limit is None
    # tasksched's options are its tasks' options
    train = user_app.tasks[TRAIN_TASK]
    assert train.acks_late and train.reject_on_worker_lost
    assert train.soft_time_limit and train.time_limit
    assert user_app.tasks[NOTIFY_TASK].acks_late


def test_configure_twice_changes_nothing_more(user_app: Celery) -> None:
    configure(user_app, SETTINGS)
    before = (tuple(user_app.conf.task_routes), tuple(q.name for q in user_app.conf.task_queues))
    configure(user_app, SETTINGS)
    after = (tuple(user_app.conf.task_routes), tuple(q.name for q in user_app.conf.task_queues))
    assert before == after


def test_an_app_without_a_broker_gets_tasksched_s_with_its_transport_options() -> None:
    bare = Celery("bare", set_as_current=False)
    bare.conf.broker_transport_options = {"socket_timeout": 5}
    configure(bare, Settings(redis_url="sentinel://:pw@h1:26379,h2:26379/mymaster"))
    assert bare.conf.broker_url == "sentinel://:pw@h1:26379;sentinel://:pw@h2:26379"
    assert bare.conf.broker_transport_options["master_name"] == "mymaster"
    assert bare.conf.broker_transport_options["socket_timeout"] == 5
    # the app had no queues: Celery's default queue stays consumed beside tasksched's
    assert [q.name for q in bare.conf.task_queues] == ["celery", "training", "notifications"]
    bare.close()


def test_the_users_route_wins_on_every_publish_path(user_app: Celery) -> None:
    configure(user_app, SETTINGS)
    kwargs = {"run_id": "r"}
    queue, exchange, routing_key = destination(user_app, TRAIN_TASK, kwargs)
    # A direct exchange without a routing key in the route: Celery's anonymous exchange to the
    # queue's name, whatever its binding key; send_task resolves the same.
    assert (queue.name, exchange, routing_key) == ("ml", "", "ml")
    assert destination(user_app, NOTIFY_TASK, kwargs)[0].name == "notifications"
    explicit = destination(user_app, TRAIN_TASK, kwargs, queue="training")
    assert explicit[0].name == "training"


def test_a_route_with_exchange_and_key_is_kept_and_skips_the_direct_path() -> None:
    app = Celery("topic", set_as_current=False)
    app.conf.task_queues = (Queue("gpu", Exchange("jobs", type="topic"), "train.#"),)
    app.conf.task_routes = {TRAIN_TASK: {"queue": "gpu", "routing_key": "train.gpu"}}
    configure(app, SETTINGS)
    queue, exchange, routing_key = destination(app, TRAIN_TASK, {})
    assert (queue.name, exchange, routing_key) == ("gpu", "jobs", "train.gpu")
    assert CeleryPublisher(app).redis_queue_key(SETTINGS.redis_url) is None
    app.close()


def test_a_router_that_reads_arguments_is_asked_per_message() -> None:
    app = Celery("by-tenant", set_as_current=False)

    def by_tenant(name: str, args: object, kwargs: dict[str, str], *_: object, **__: object):
        if name == TRAIN_TASK and kwargs.get("tenant_id") == "big":
            return {"queue": "notifications"}
        return None

    app.conf.task_routes = (by_tenant,)
    configure(app, SETTINGS)
    assert destination(app, TRAIN_TASK, {"tenant_id": "big"})[0].name == "notifications"
    assert destination(app, TRAIN_TASK, {"tenant_id": "small"})[0].name == "training"
    # the direct path pushes one list per batch: not for routes that depend on the message
    assert CeleryPublisher(app).redis_queue_key(SETTINGS.redis_url) is None
    app.close()


def test_tasksched_s_own_app_and_the_apps_for_other_settings() -> None:
    own = create_app(SETTINGS)
    conf = own.conf
    assert conf.task_default_queue == "training" and conf.worker_prefetch_multiplier == 1
    assert conf.beat_enable_remote_control is True
    assert conf.beat_remote_control_max_tick_age == SETTINGS.beat_max_tick_age_s
    assert conf.beat_scheduler == "tasksched.beat:RedisScheduler"
    assert CeleryPublisher(own).redis_queue_key(SETTINGS.redis_url) == "training"
    own.close()
    a = app_for(SETTINGS.replace(redis_url="redis://127.0.0.1:6397/0"))
    b = app_for(SETTINGS.replace(redis_url="redis://127.0.0.1:6397/0", api_port=1))
    assert a is b  # same broker, queues and options: the same app
    assert a.conf.broker_url == "redis://127.0.0.1:6397/0"
    other_queue = app_for(SETTINGS.replace(redis_url="redis://127.0.0.1:6397/0",
                                           training_queue="big"))  # fmt: skip
    assert other_queue is not a and destination(other_queue, TRAIN_TASK, {})[0].name == "big"

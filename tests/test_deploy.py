"""The deployment files checked against the real CLI, Celery's CLI, Settings and the metrics.

No Docker engine runs here, so docker-compose.yml is parsed and every service's command is
parsed by the real click commands it would run (celery's and tasksched's); every
``TASKSCHED_*`` name must be a Settings field; the alert rules may only name metrics the API
really exposes. The checks that need a real process (redis.conf in a real redis-server, git)
are in ``tests/integration/test_deploy.py``.
"""

from __future__ import annotations

import configparser
import re
import shlex
import warnings
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from tasksched.settings import Settings
from tasksched.store import Store
from tests.helpers import ROOT

SETTING_NAMES = {"TASKSCHED_" + name.upper() for name in Settings.model_fields}
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
SYSTEMD = sorted((ROOT / "ops" / "systemd").glob("*.service"))


def _interpolate(text: str) -> str:
    """Compose's ${VAR...} with a sample value."""
    return re.sub(r"\$\{[^}]+\}", "sample", text)


def _rest(ctx: click.Context) -> list[str]:
    """A group's unparsed arguments: the subcommand name and what follows it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # click 8.2+ renamed this
        return [*ctx.protected_args, *ctx.args]


def parse_invocation(argv: list[str]) -> click.Context:
    """Parse ``argv`` with the real click command it names; raise on any unknown option."""
    prog = Path(argv[0]).name
    if prog == "tasksched":
        from tasksched.cli import cli

        ctx = cli.make_context("tasksched", list(argv[1:]))
        name, cmd, rest = cli.resolve_command(ctx, _rest(ctx))
        assert cmd is not None, argv
        while isinstance(cmd, click.Group):
            sub = cmd.make_context(name or "", rest, parent=ctx)
            name, cmd, rest = cmd.resolve_command(sub, _rest(sub))
            ctx = sub
            assert cmd is not None, argv
        return cmd.make_context(name or "", rest, parent=ctx)
    assert prog == "celery", f"unknown program in {argv}"
    from celery.bin.base import CLIContext
    from celery.bin.celery import celery

    from tasksched.celery import app

    ctx = celery.make_context("celery", list(argv[1:]))
    assert ctx.params["app"] == "tasksched", argv
    ctx.obj = CLIContext(app=app, no_color=True, workdir=None)
    name, cmd, rest = celery.resolve_command(ctx, _rest(ctx))
    assert cmd is not None, argv
    if name == "inspect":
        return cmd.make_context(name, rest, parent=ctx)
    sub = cmd.make_context(name or "", rest, parent=ctx)
    if name == "flower":  # flower hands its options to tornado: check them there
        import flower.options  # noqa: F401 - defines the options
        import tornado.options

        known = set(tornado.options.options._options)
        for arg in sub.params["tornado_argv"]:
            key = arg.lstrip("-").split("=", 1)[0].replace("_", "-")
            assert key in known, f"flower has no option {arg!r}"
    return sub


# ---- docker-compose.yml -------------------------------------------------------------------


def test_compose_has_every_service() -> None:
    assert set(SERVICES) == {
        "redis", "api", "beat-1", "beat-2", "worker-small", "worker-large", "worker-notify",
        "flower",
    }  # fmt: skip
    beats = [s for s in SERVICES.values() if s.get("command", [])[3:4] == ["beat"]]
    assert len(beats) == 2, "two beat processes (one leads, one stands by)"
    training = [n for n, s in SERVICES.items() if "training" in s.get("command", [])]
    limits = {SERVICES[n]["environment"]["TASKSCHED_WORKER_MAX_MEMORY_MB"] for n in training}
    assert len(training) == 2 and len(limits) == 2, "two training workers, different limits"
    mems = {SERVICES[n]["deploy"]["resources"]["limits"]["memory"] for n in training}
    assert len(mems) == 2
    assert "notifications" in SERVICES["worker-notify"]["command"]


def test_every_service_has_a_healthcheck_and_secrets_from_the_env_file() -> None:
    for name, svc in SERVICES.items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        if name != "redis":
            assert svc.get("env_file") == ".env", name
            assert svc["depends_on"]["redis"]["condition"] == "service_healthy", name
            env = svc["environment"]
            assert "TASKSCHED_SECRET_KEY" not in env, "secrets come from .env, not the file"
            assert "TASKSCHED_API_KEYS" not in env
    example = (ROOT / ".env.example").read_text()
    for needed in ("TASKSCHED_SECRET_KEY=", "TASKSCHED_API_KEYS=", "REDIS_PASSWORD=",
                   "FLOWER_BASIC_AUTH="):  # fmt: skip
        assert needed in example


def test_every_tasksched_variable_is_a_setting() -> None:
    texts = [(ROOT / "docker-compose.yml").read_text(), (ROOT / ".env.example").read_text()]
    texts += [p.read_text() for p in (ROOT / "ops").rglob("*") if p.is_file()]
    named = set()
    for text in texts:
        named |= set(re.findall(r"\bTASKSCHED_[A-Z0-9_]+", text))
    assert named, "the files name settings"
    assert named - SETTING_NAMES == set()
    for svc in SERVICES.values():
        for key in svc.get("environment", {}):
            assert not key.startswith("TASKSCHED_") or key in SETTING_NAMES, key


def test_settings_values_in_compose_parse() -> None:
    for name, svc in SERVICES.items():
        env = {k: _interpolate(str(v)) for k, v in svc.get("environment", {}).items()}
        settings = Settings.from_env(env)
        if name.startswith("worker-") and "training" in svc["command"]:
            assert settings.worker_max_memory_mb > 0
        if name != "redis":
            assert settings.redis_url.startswith("redis://:sample@redis:6379/")


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_commands_are_valid_invocations(name: str) -> None:
    svc = SERVICES[name]
    command = [_interpolate(c) for c in svc["command"]]
    if name == "redis":
        assert command[:2] == ["redis-server", "/usr/local/etc/redis/redis.conf"]
        mounts = svc["volumes"]
        assert "./ops/redis.conf:/usr/local/etc/redis/redis.conf:ro" in mounts
        return
    ctx = parse_invocation(command)
    if name == "api":
        assert ctx.params["host"] == "0.0.0.0" and ctx.params["port"] == 8000
    test = svc["healthcheck"]["test"]
    if test[0] == "CMD" and Path(test[1]).name in ("tasksched", "celery"):
        parse_invocation(test[1:])
    elif test[0] == "CMD-SHELL" and test[1].startswith(("celery ", "tasksched ")):
        parse_invocation(shlex.split(test[1].replace("$$HOSTNAME", "host")))
    if name.startswith("beat"):
        # this beat's own liveness (Celery's ping to celerybeat@<its host>), not the system's
        assert "celerybeat@$$HOSTNAME" in test[1], test


# ---- systemd units -------------------------------------------------------------------------


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_systemd_units_exist_for_every_process() -> None:
    assert {p.name for p in SYSTEMD} == {
        "tasksched-api.service", "tasksched-beat.service", "tasksched-worker@.service",
        "tasksched-flower.service",
    }  # fmt: skip


@pytest.mark.parametrize("path", SYSTEMD, ids=[p.name for p in SYSTEMD])
def test_systemd_unit_commands_are_valid(path: Path) -> None:
    unit = _unit(path)
    service = unit["Service"]
    assert service["User"] == "tasksched"
    assert service["Restart"] == "always"
    assert "/etc/tasksched/tasksched.env" in path.read_text()
    exec_start = service["ExecStart"]
    sample = (
        exec_start.replace("${WORKER_QUEUES}", "training")
        .replace("${WORKER_CONCURRENCY}", "2")
        .replace("%%", "%")
        .replace("%i", "small")
    )
    argv = shlex.split(sample)
    assert argv[0].startswith("/opt/tasksched/venv/bin/")
    parse_invocation(argv)
    if "worker" in argv:
        assert service["KillSignal"] == "SIGTERM", "warm shutdown lets a training finish"
        assert "%%h" in exec_start, "systemd must pass celery's %h through"


# ---- Prometheus rules ----------------------------------------------------------------------


def test_alert_rules_name_only_real_metrics(store: Store) -> None:
    from tasksched.api.metrics import render
    from tasksched.manager import SchedulerManager

    mgr = SchedulerManager(store=store)
    # What a running system has: a leader with health, a run outcome, a dead letter.
    keys = mgr.store.keys
    mgr.store.redis.set(keys.beat_lock, "beat-1")
    now = mgr.store.time()
    mgr.store.redis.hset(keys.beat_health, mapping={"last_tick": now, "lag_s": 0.01,
                                                    "dispatch_lag_s": 0.02,
                                                    "dispatched_total": 1})  # fmt: skip
    mgr.store.redis.hset(keys.metrics, mapping={"notifications_dead": 1, "runs_failed": 1})
    body, _ = render(mgr)
    mgr.store.redis.close()
    exposed = set(re.findall(r"^([a-z_]+)(?:\{|\s)", body.decode(), flags=re.M))
    rules = yaml.safe_load((ROOT / "ops" / "prometheus" / "alerts.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    for needed in ("TaskschedLeaderMissing", "TaskschedDispatchLag", "TaskschedFailureStreak",
                   "TaskschedDeadLetters"):  # fmt: skip
        assert needed in alerts
    for alert in alerts.values():
        assert alert["annotations"]["runbook"].startswith("ops/runbook.md#")
        for metric in re.findall(r"\b(tasksched_[a-z_]+)", alert["expr"]):
            assert metric in exposed, f"{alert['alert']}: {metric} is not exposed"
        for label_value in re.findall(r'name="([a-z_]+)"', alert["expr"]):
            assert f'name="{label_value}"' in body.decode(), label_value


def test_runbook_has_every_anchor_the_rules_use() -> None:
    runbook = (ROOT / "ops" / "runbook.md").read_text()
    headings = {
        re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", runbook, flags=re.M)
    }
    rules = (ROOT / "ops" / "prometheus" / "alerts.yml").read_text()
    for anchor in set(re.findall(r"runbook\.md#([a-z0-9-]+)", rules)):
        assert anchor in headings, anchor


def test_dockerfile_copies_files_that_exist() -> None:
    dockerfile = (ROOT / "ops" / "Dockerfile").read_text()
    copies = [line for line in dockerfile.splitlines() if line.startswith("COPY ")]
    assert copies and not [line for line in copies if "docker-compose.yml" in line]
    assert COMPOSE["x-tasksched"]["build"]["dockerfile"] == "ops/Dockerfile"
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            *sources, _dest = line.split()[1:]
            for source in sources:
                assert (ROOT / source).exists(), f"{source} (COPY in ops/Dockerfile) is missing"


# ---- ops/constraints.txt: the image's pinned versions -----------------------------------------
def _pins() -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    for raw in (ROOT / "ops" / "constraints.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, ver = line.partition("==")
        assert sep and ver and ";" not in line, f"not an exact pin: {raw!r}"
        pins[canonicalize_name(name)] = ver
    return pins


def test_the_image_installs_from_the_pinned_constraints() -> None:
    dockerfile = (ROOT / "ops" / "Dockerfile").read_text()
    installs = [ln for ln in dockerfile.splitlines() if "pip install" in ln]
    assert installs and all("-c ops/constraints.txt" in ln for ln in installs), installs


def test_every_pin_satisfies_pyproject_and_every_dependency_is_pinned() -> None:
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins()
    # What the image installs: the dependencies and the demo extra (".[demo]").
    for line in [*project["dependencies"], *project["optional-dependencies"]["demo"]]:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"python_version": "3.11"}):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not pinned in ops/constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"ops/constraints.txt pins {req.name}=={pins[name]}, pyproject.toml wants {req}"
        )

"""The demo learner: scikit-learn on the digits dataset that ships with scikit-learn.

Install with ``pip install tasksched[demo]``. Import path ``tasksched.learners.demo:DemoLearner``.

* **Data that grows.** Of the 1797 digits, a fixed 20% is the validation set; the rest is a
  stream that "arrives" over time: ``initial_samples`` at first, plus ``growth_per_run`` per
  training attempt, plus ``growth_per_hour`` per hour since the model directory was created.
  ``count_available_data`` reports the samples that arrived since the current model was trained.
* **Training in place.** ``train`` writes the candidate over the live model file (as many
  training scripts do), so a rejected candidate is rolled back for real from the backup.
* **Files** under the run's ``ctx.model_dir`` (``<state_dir>/models/<tenant>/<schedule>``):
  ``model.joblib`` + ``model.json`` (the live model), ``state.json`` (growth bookkeeping),
  ``candidate.json`` (the last candidate's facts), ``backups/<run_id>/`` (copies before
  training, the newest ``keep_backups`` kept).

Options: ``model`` (``logreg`` | ``tree`` | ``dummy``), ``label_noise`` (fraction of training
labels replaced at random: a way to make a worse model on purpose), ``initial_samples``,
``growth_per_run``, ``growth_per_hour``, ``seed``, ``keep_backups``, ``train_delay_s``.
The model directory is never an option: tasksched derives it from the tenant and schedule.

``count_available_data``, ``backup``, ``promote`` and ``restore`` use the standard library
only, so only ``train`` and ``evaluate`` import scikit-learn (all of them run in the run's
child process).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from tasksched.gates import Evaluation
from tasksched.learners.base import RunContext

__all__ = ["DIGITS_SAMPLES", "DemoLearner"]

DIGITS_SAMPLES = 1797  # sklearn.datasets.load_digits(): fixed, so counting needs no import
VALIDATION_FRACTION = 0.2
MODEL_FILE = "model.joblib"
META_FILE = "model.json"
STATE_FILE = "state.json"
CANDIDATE_FILE = "candidate.json"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


class DemoLearner:
    """A real scikit-learn learner with growing data, backups and in-place training."""

    def __init__(self, options: dict[str, Any] | None = None):
        opts = dict(options or {})
        self.model_kind = str(opts.get("model", "logreg"))
        if self.model_kind not in ("logreg", "tree", "dummy"):
            raise ValueError(f"model must be logreg, tree or dummy, not {self.model_kind!r}")
        self.label_noise = float(opts.get("label_noise", 0.0))
        if not 0.0 <= self.label_noise <= 1.0:
            raise ValueError("label_noise must be between 0 and 1")
        self.initial_samples = int(opts.get("initial_samples", 400))
        self.growth_per_run = int(opts.get("growth_per_run", 200))
        self.growth_per_hour = float(opts.get("growth_per_hour", 100.0))
        self.seed = int(opts.get("seed", 0))
        self.keep_backups = max(int(opts.get("keep_backups", 5)), 1)
        self.train_delay_s = float(opts.get("train_delay_s", 0.0))
        if "model_dir" in opts:
            # A tenant's option must not choose where files go (another tenant's models).
            raise ValueError("model_dir is not an option: the run's directory is ctx.model_dir")
        self._baseline: float | None = None
        self._test: tuple[Any, Any] | None = None

    # ---- files ---------------------------------------------------------------------------
    def _dir(self, ctx: RunContext) -> Path:
        path = ctx.model_path
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _state(self, ctx: RunContext) -> dict[str, Any]:
        path = self._dir(ctx) / STATE_FILE
        state = _read_json(path)
        if "created_at" not in state:
            state = {"created_at": time.time(), "attempts": 0, "trained_samples": 0, "version": 0}
            _write_json(path, state)
        return state

    @property
    def pool_size(self) -> int:
        """Samples outside the fixed validation set: the most that can ever arrive."""
        return DIGITS_SAMPLES - int(DIGITS_SAMPLES * VALIDATION_FRACTION)

    def available_total(self, ctx: RunContext) -> int:
        """Samples arrived so far (grows with training attempts and wall time)."""
        state = self._state(ctx)
        hours = max(time.time() - float(state["created_at"]), 0.0) / 3600.0
        grown = (
            self.initial_samples
            + self.growth_per_run * int(state.get("attempts", 0))
            + int(self.growth_per_hour * hours)
        )
        return max(min(grown, self.pool_size), 0)

    # ---- protocol ------------------------------------------------------------------------
    def count_available_data(self, ctx: RunContext) -> int:
        """Samples arrived since the current model was trained."""
        state = self._state(ctx)
        return max(self.available_total(ctx) - int(state.get("trained_samples", 0)), 0)

    def backup(self, ctx: RunContext) -> str | None:
        """Copy the live model files to ``backups/<run_id>/`` (an empty copy if none yet)."""
        root = self._dir(ctx)
        dest = root / "backups" / ctx.run_id
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for name in (MODEL_FILE, META_FILE, STATE_FILE):
            if (root / name).exists():
                shutil.copy2(root / name, dest / name)
        backups = sorted((root / "backups").iterdir(), key=lambda p: p.stat().st_mtime)
        for old in backups[: -self.keep_backups]:
            if old != dest:
                shutil.rmtree(old, ignore_errors=True)
        return str(dest)

    def _data(self) -> tuple[Any, Any, Any, Any]:
        import numpy as np
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = digits.data / 16.0
        y = digits.target
        order = np.random.default_rng(12345).permutation(len(y))  # one fixed stream order
        n_val = int(len(y) * VALIDATION_FRACTION)
        val_idx, pool_idx = order[:n_val], order[n_val:]
        return x[pool_idx], y[pool_idx], x[val_idx], y[val_idx]

    def _model(self) -> Any:
        if self.model_kind == "tree":
            from sklearn.tree import DecisionTreeClassifier

            return DecisionTreeClassifier(max_depth=8, random_state=self.seed)
        if self.model_kind == "dummy":
            from sklearn.dummy import DummyClassifier

            return DummyClassifier(strategy="most_frequent")
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=300)

    def train(self, ctx: RunContext) -> str | None:
        """Fit on the newest arrived samples (at most ``ctx.max_samples``), over the live model."""
        import joblib
        import numpy as np

        root = self._dir(ctx)
        total = self.available_total(ctx)
        state = self._state(ctx)
        # The next run sees growth_per_run more samples (data arriving between runs).
        state["attempts"] = int(state.get("attempts", 0)) + 1
        _write_json(root / STATE_FILE, state)
        x_pool, y_pool, x_val, y_val = self._data()
        n_used = total if ctx.max_samples is None else min(total, ctx.max_samples)
        x, y = x_pool[total - n_used : total], y_pool[total - n_used : total].copy()
        if (root / MODEL_FILE).exists():
            current = joblib.load(root / MODEL_FILE)
            self._baseline = float(current.score(x_val, y_val))
        # The held-out split follows the attempt, not the run id: a schedule's first run is the
        # same on every machine (the README's strict example is rejected every time).
        attempt = int(state["attempts"])
        seed = int(hashlib.sha256(f"{self.seed}:{attempt}".encode()).hexdigest()[:8], 16)
        rng = np.random.default_rng(seed)
        n_test = max(int(len(y) * 0.2), 1)
        test_idx = rng.permutation(len(y))[:n_test]
        mask = np.ones(len(y), dtype=bool)
        mask[test_idx] = False
        x_train, y_train = x[mask], y[mask]
        if self.label_noise > 0:
            flip = rng.random(len(y_train)) < self.label_noise
            y_train[flip] = rng.integers(0, 10, int(flip.sum()))
        if self.train_delay_s > 0:
            time.sleep(self.train_delay_s)
        model = self._model().fit(x_train, y_train)
        self._test = (x[test_idx], y[test_idx])
        joblib.dump(model, root / MODEL_FILE)  # in place: the backup is what undoes this
        _write_json(
            root / META_FILE,
            {"run_id": ctx.run_id, "samples": len(y_train), "model": self.model_kind},
        )
        _write_json(
            root / CANDIDATE_FILE,
            {"run_id": ctx.run_id, "available_total": total, "n_used": int(n_used)},
        )
        return str(root / MODEL_FILE)

    def evaluate(self, ctx: RunContext, candidate: str | None) -> Evaluation:
        """Quality on held-out new samples, validation on the fixed set, baseline likewise."""
        import joblib

        if candidate is None or self._test is None:
            raise RuntimeError("evaluate() needs the candidate of train() in this process")
        model = joblib.load(candidate)
        _, _, x_val, y_val = self._data()
        x_test, y_test = self._test
        return Evaluation(
            quality_score=float(model.score(x_test, y_test)),
            validation_score=float(model.score(x_val, y_val)),
            baseline_score=self._baseline,
            metrics={"test_samples": len(y_test), "model": self.model_kind},
        )

    def promote(self, ctx: RunContext, candidate: str | None) -> None:
        """Keep the candidate: record the samples it used so only newer data counts as new."""
        root = self._dir(ctx)
        facts = _read_json(root / CANDIDATE_FILE)
        state = self._state(ctx)
        state["trained_samples"] = int(facts.get("available_total", state["trained_samples"]))
        state["version"] = int(state.get("version", 0)) + 1
        _write_json(root / STATE_FILE, state)
        meta = _read_json(root / META_FILE)
        meta.update({"promoted": True, "version": state["version"]})
        _write_json(root / META_FILE, meta)

    def restore(self, ctx: RunContext, backup: str | None) -> str | None:
        """Put the backed-up model files back (removing a model that did not exist before).

        Returns "no previous model ..." when the backup was taken before any model existed.
        """
        if backup is None:
            return None
        root = self._dir(ctx)
        src = Path(backup)
        if not src.is_dir():
            raise FileNotFoundError(f"backup {backup} is gone")
        had_model = (src / MODEL_FILE).exists()
        for name in (MODEL_FILE, META_FILE):
            if (src / name).exists():
                shutil.copy2(src / name, root / name)
            else:
                (root / name).unlink(missing_ok=True)
        # Growth bookkeeping keeps its attempt count: data that arrived stays arrived.
        (root / CANDIDATE_FILE).unlink(missing_ok=True)
        return None if had_model else "no previous model: the candidate was removed"

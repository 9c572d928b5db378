"""Strict safety controls, as the seed's "Advanced Configuration" writes them.

The seed's SafetyControls and its "Complete configuration" (which gives the training time
twice, 60 minutes and 7200 s: the stricter applies), then a forced run through the gates, and
a deliberately worse model, which the gates reject and roll back.

Run: ``. ~/.local/state/tasksched/up.env && python examples/02_strict_safety.py``
"""

from __future__ import annotations

from common import clean_tenant, manager, section, show_run

from tasksched import AutonomousConfig, SafetyControls, SafetyLevel

TENANT = "example-strict"


def main() -> None:
    scheduler = manager()
    clean_tenant(scheduler, TENANT)

    section("the seed's advanced safety controls")
    safety_controls = SafetyControls(
        level=SafetyLevel.STRICT,
        min_data_threshold=500,
        max_data_threshold=10000,
        quality_threshold=0.8,
        max_training_time_minutes=60,
        validation_threshold=0.9,
        rollback_on_degradation=True,
        max_memory_usage_mb=2048,
        max_cpu_usage_percent=75.0,
        max_consecutive_failures=2,
        failure_cooldown_hours=24,
    )
    config = AutonomousConfig(
        enabled=True,
        training_schedule="0 3 * * 0",  # Weekly on Sunday at 3 AM
        timezone="UTC",
        safety_controls=safety_controls,
        max_training_time=7200,  # 2 hours, but the controls say 60 minutes: the stricter applies
        backup_models=True,
        auto_rollback=True,
    )
    print(f"  max training time: {config.max_training_time:.0f} s "
          f"({config.safety_controls.max_training_time_minutes:.0f} min)")  # fmt: skip
    sid = scheduler.create_training_schedule(TENANT, "Weekly strict", "0 3 * * 0", config)
    stored = scheduler.get_schedule_status(sid)["config"]["safety_controls"]
    print(f"  stored: level={stored['level']} quality>={stored['quality_threshold']} "
          f"validation>={stored['validation_threshold']} memory<={stored['max_memory_usage_mb']}"
          f" MB cpu<={stored['max_cpu_usage_percent']}%")  # fmt: skip

    section("a forced run: the data minimum (500) is skipped, the gates are not")
    run = scheduler.trigger_training(TENANT, sid, force=True).wait(timeout_s=300)
    show_run(run)
    gates = [c for c in run.get("checks", []) if "gate" in c]
    for gate in gates:
        print(f"  gate {gate['gate']}: {'ok' if gate['ok'] else 'FAILED'} "
              f"(score {gate['score']:.3f}, needs {gate.get('threshold', gate.get('baseline'))})")

    section("a deliberately worse model (half its training labels scrambled)")
    scheduler.update_schedule(sid, config={"learner_options": {"label_noise": 0.5}})
    worse = scheduler.trigger_training(TENANT, sid, force=True).wait(timeout_s=300)
    show_run(worse)
    print(f"  promoted: {worse['status'] == 'succeeded'}, rolled back: {worse['rolled_back']}")
    status = scheduler.get_schedule_status(sid)
    print(f"  runs: {status['total_runs']}, promoted {status['successful_runs']}, "
          f"rejected {status['rejected_runs']}")  # fmt: skip
    scheduler.delete_schedule(sid)


if __name__ == "__main__":
    main()

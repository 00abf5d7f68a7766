"""Intake against a real Redis: claims, episodes, cooldowns, circuits, audit, RQ jobs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
import redis as redis_lib
from rq import Queue
from rq.job import Job

from remediator import audit, keys
from remediator.alerts import parse_message
from remediator.config import RemediatorConfig
from remediator.intake import Intake
from remediator.store import Store
from tests.remediator.conftest import Clock, MakeIntake, alert, body, record_of, ts


async def post(intake: Intake, *alerts: dict) -> list[str]:
    return [o.decision for o in await intake.process(parse_message(body(*alerts)))]


@pytest.fixture
def dry_run_intake(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    make_intake: MakeIntake,
) -> Intake:
    """An intake under dry run: it claims and audits decisions, records and queues nothing."""
    intake, _ = make_intake(store_factory(make_config(dry_run=True)))
    return intake


async def test_one_alert_is_enqueued_once_with_a_derived_job_id(
    store: Store, make_intake: MakeIntake, redis: redis_lib.Redis
) -> None:
    intake, registry = make_intake(store)
    outcomes = await intake.process(parse_message(body(alert())))
    assert [o.decision for o in outcomes] == ["enqueued"]
    execution_id = outcomes[0].execution_id
    assert execution_id is not None
    assert execution_id.startswith("alert-")
    for _ in range(20):
        assert await post(intake, alert()) == ["duplicate"]
    queue = Queue("remediation-critical", connection=redis)
    assert queue.job_ids == [execution_id]
    job = Job.fetch(execution_id, connection=redis)
    assert job.timeout == 600
    assert job.args == (execution_id,)
    record = record_of(store, execution_id)
    assert (record.command, record.trigger, record.status) == (
        "EMERGENCY_RESTART",
        "alert",
        "queued",
    )
    assert record.alert is not None
    assert record.alert.starts_at == ts("2026-11-25T12:00:00Z")
    assert len(store.list_executions()) == 1
    sample = registry.get_sample_value(
        "amc_remediator_decisions_total", {"command": "EMERGENCY_RESTART", "decision": "duplicate"}
    )
    assert sample == 20
    reasons = [e["reason"] for e in audit.read(redis, 100, event="decision")]
    assert reasons.count("enqueued") == 1
    assert reasons.count("duplicate") == 20


async def test_a_new_episode_of_the_same_alert_is_decided_again(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    make_intake: MakeIntake,
) -> None:
    store = store_factory(make_config(defaults={"cooldown_seconds": 0}))
    intake, _ = make_intake(store)
    assert await post(intake, alert()) == ["enqueued"]
    # the first execution has not started yet, so the command is still pending
    assert await post(intake, alert(starts_at="2026-11-25T14:00:00Z")) == ["cooldown"]
    store.conn.delete(keys.pending("EMERGENCY_RESTART"))
    assert await post(intake, alert(starts_at="2026-11-25T14:00:00Z")) == ["enqueued"]


async def test_each_alert_of_a_group_is_decided_on_its_own(
    store: Store, make_intake: MakeIntake
) -> None:
    intake, _ = make_intake(store)
    decisions = await post(
        intake,
        alert("HighErrorRate"),
        alert("Unknown", fingerprint="b2"),
        alert("X", fingerprint="c3", command="HEALTH_CHECK"),
        alert("X", fingerprint="d4", command="NOT_A_COMMAND"),
        alert("Gone", fingerprint="e5", status="resolved", ends_at="2026-11-25T12:05:00Z"),
    )
    assert decisions == ["enqueued", "unmapped", "enqueued", "rejected", "resolved"]


async def test_cooldown_starts_when_the_execution_starts(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    make_intake: MakeIntake,
    clock: Clock,
    run_jobs: Callable[..., bool],
) -> None:
    store = store_factory(make_config(alerts={"CacheStale": "FLUSH_REDIS"}))
    intake, _ = make_intake(store)
    assert await post(intake, alert("CacheStale")) == ["enqueued"]
    assert run_jobs(store, clock)
    second = alert("CacheStale", starts_at="2026-11-25T13:00:00Z")
    assert await post(intake, second) == ["cooldown"]
    clock.advance(599)
    assert await post(intake, second) == ["cooldown"]
    clock.advance(2)
    assert await post(intake, second) == ["enqueued"]


async def test_circuit_opens_after_three_executions_and_closes_after_an_hour(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    make_intake: MakeIntake,
    clock: Clock,
    run_jobs: Callable[..., bool],
    redis: redis_lib.Redis,
) -> None:
    store = store_factory(make_config(alerts={"CacheStale": "FLUSH_REDIS"}))
    intake, _ = make_intake(store)
    for hour in range(3):
        episode = alert("CacheStale", starts_at=f"2026-11-25T1{hour}:00:00Z")
        assert await post(intake, episode) == ["enqueued"]
        assert run_jobs(store, clock)
        clock.advance(601)  # past the cooldown, within the hour
    fourth = alert("CacheStale", starts_at="2026-11-25T15:00:00Z")
    assert await post(intake, fourth) == ["circuit_open"]
    assert store.circuits(clock())["FLUSH_REDIS"]["open"]
    assert [e["command"] for e in audit.read(redis, 10, event="circuit_opened")] == ["FLUSH_REDIS"]
    clock.advance(3600)
    assert await post(intake, fourth) == ["enqueued"]


async def test_an_operator_resets_an_open_circuit(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    make_intake: MakeIntake,
    clock: Clock,
) -> None:
    config = make_config(
        alerts={"CacheStale": "FLUSH_REDIS"},
        defaults={"circuit": {"max_executions": 1}, "cooldown_seconds": 0},
    )
    store = store_factory(config)
    intake, _ = make_intake(store)
    assert await post(intake, alert("CacheStale")) == ["enqueued"]
    store.conn.delete(keys.pending("FLUSH_REDIS"))
    second = alert("CacheStale", starts_at="2026-11-25T13:00:00Z")
    assert await post(intake, second) == ["circuit_open"]
    store.reset_circuit("FLUSH_REDIS", "test", clock())
    assert not store.circuits(clock())["FLUSH_REDIS"]["open"]
    assert await post(intake, second) == ["enqueued"]


async def test_a_repeat_names_the_execution_its_episode_recorded(
    store: Store, make_intake: MakeIntake, dry_run_intake: Intake
) -> None:
    """A notification retried after its first commit landed (its reply lost, or a 503 from a
    timeout after the write) answers ``duplicate`` with the execution id the first one got."""
    intake, _ = make_intake(store)
    first = (await intake.process(parse_message(body(alert()))))[0]
    assert first.decision == "enqueued"
    again = (await intake.process(parse_message(body(alert()))))[0]
    assert (again.decision, again.execution_id) == ("duplicate", first.execution_id)
    dry = alert("Check", fingerprint="0000000000000001", command="HEALTH_CHECK")
    assert await post(dry_run_intake, dry) == ["dry_run"]
    repeat = (await dry_run_intake.process(parse_message(body(dry))))[0]
    assert (repeat.decision, repeat.execution_id) == ("duplicate", None)


async def test_both_ways_of_deciding_write_the_same_episode(
    store: Store, make_intake: MakeIntake, dry_run_intake: Intake, redis: redis_lib.Redis
) -> None:
    """One script writes a decision's effects, on the event loop (dry run) and inside the
    transaction that enqueues: the episode and the audit entry have the same shape."""
    intake, _ = make_intake(store)
    await post(intake, alert())
    await post(
        dry_run_intake, alert("Check", fingerprint="0000000000000002", command="HEALTH_CHECK")
    )
    episodes = {e["fingerprint"]: e for e in store.active_episodes()}
    enqueued, dry = episodes["a1b2c3d4e5f60718"], episodes["0000000000000002"]
    assert enqueued.pop("execution_id").startswith("alert-")
    assert (enqueued.pop("last_decision"), dry.pop("last_decision")) == ("enqueued", "dry_run")
    assert set(enqueued) == set(dry) == {
        "dedup_key", "alertname", "fingerprint", "starts_at", "first_seen", "command"
    }  # fmt: skip
    entries = {e["reason"]: e for e in audit.read(redis, 10, event="decision")}
    assert set(entries["enqueued"]) - set(entries["dry_run"]) == {"execution_id"}


async def test_an_episode_first_seen_resolved_gets_its_fields_when_it_fires(
    dry_run_intake: Intake,
) -> None:
    """Notifications may arrive out of order (HA twins): the resolution creates the
    episode, a late firing copy still fills in what it knows."""
    resolved = alert(status="resolved", ends_at="2026-11-25T12:20:00Z")
    assert await post(dry_run_intake, resolved) == ["resolved"]
    assert await post(dry_run_intake, alert()) == ["dry_run"]
    raw = dry_run_intake.store.conn.hgetall(
        keys.episode(parse_message(body(alert())).alerts[0].dedup_key)
    )
    episode = {k.decode(): v.decode() for k, v in raw.items()}
    assert episode["alertname"] == "HighErrorRate"
    assert episode["command"] == "EMERGENCY_RESTART"
    assert "resolved_at" in episode


async def test_dry_run_claims_the_episode_but_records_no_execution(
    dry_run_intake: Intake, redis: redis_lib.Redis
) -> None:
    assert await post(dry_run_intake, alert()) == ["dry_run"]
    assert await post(dry_run_intake, alert()) == ["duplicate"]
    assert dry_run_intake.store.list_executions() == []
    assert Queue("remediation-critical", connection=redis).count == 0


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [
        ({keys.cooldown("EMERGENCY_RESTART"): "1800000300.0"}, "cooldown"),
        ({keys.pending("EMERGENCY_RESTART"): "alert-x"}, "cooldown"),
        ({keys.circuit_open("EMERGENCY_RESTART"): "1800003600.0"}, "circuit_open"),
    ],
)
async def test_a_decision_on_the_assumed_state_is_not_recorded_when_redis_holds_another(
    dry_run_intake: Intake, redis: redis_lib.Redis, recorded: dict[str, str], expected: str
) -> None:
    """Intake first decides as if nothing were recorded (a dry run here); the commit finds
    the command's state in Redis, writes nothing, and the alert is decided again on it."""
    redis.mset(recorded)
    assert await post(dry_run_intake, alert()) == [expected]
    assert redis.exists(keys.claim(parse_message(body(alert())).alerts[0].dedup_key)) == 0
    assert [e["reason"] for e in audit.read(redis, 100, event="decision")] == [expected]
    for key in recorded:
        redis.delete(key)
    assert await post(dry_run_intake, alert()) == ["dry_run"]


async def test_scripts_forgotten_by_redis_are_loaded_again(
    dry_run_intake: Intake, redis: redis_lib.Redis
) -> None:
    """A restarted Redis has no scripts: the calls that got NOSCRIPT are sent again."""
    assert await post(dry_run_intake, alert()) == ["dry_run"]
    redis.script_flush()
    many = [alert(fingerprint=f"{n:016x}") for n in range(30)]
    outcomes = await asyncio.gather(
        *(post(dry_run_intake, a) for a in many), post(dry_run_intake, alert())
    )
    assert outcomes == [["dry_run"]] * 30 + [["duplicate"]]


async def test_only_enqueued_decisions_create_execution_records(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    make_intake: MakeIntake,
) -> None:
    store = store_factory(make_config(commands={"HEALTH_CHECK": {"enabled": False}}))
    intake, _ = make_intake(store)
    await post(intake, alert("Nope"), alert("X", fingerprint="f1", command="HEALTH_CHECK"))
    assert store.list_executions() == []


async def test_resolved_alert_closes_its_episode_and_records_mttr_once(
    store: Store, make_intake: MakeIntake
) -> None:
    intake, registry = make_intake(store)
    await post(intake, alert())
    assert len(store.active_episodes()) == 1
    resolved = alert(status="resolved", ends_at="2026-11-25T12:20:00Z")
    for _ in range(3):
        assert await post(intake, resolved) == ["resolved"]
    assert store.active_episodes() == []
    labels = {"alertname": "HighErrorRate"}
    assert registry.get_sample_value("amc_remediator_alert_resolution_seconds_count", labels) == 1
    assert registry.get_sample_value("amc_remediator_alert_resolution_seconds_sum", labels) == 1200
    assert store.stats() == {"resolution_sum": 1200.0, "resolution_count": 1.0}


async def test_the_resolution_of_an_unseen_episode_expires(
    store: Store, make_intake: MakeIntake
) -> None:
    intake, _ = make_intake(store)
    resolved = alert(status="resolved", ends_at="2026-11-25T12:20:00Z")
    assert await post(intake, resolved) == ["resolved"]
    episodes = list(store.conn.scan_iter(match="amc:remediator:episode:*"))
    assert len(episodes) == 1
    assert store.conn.ttl(episodes[0]) > 0


async def test_nothing_from_the_payload_becomes_a_parameter(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    make_intake: MakeIntake,
) -> None:
    config = make_config(
        alerts={"QualityDrop": "VALIDATE_ALGORITHMS"},
        commands={"VALIDATE_ALGORITHMS": {"parameters": {"apply_best": False}}},
    )
    store = store_factory(config)
    intake, _ = make_intake(store)
    hostile = alert("QualityDrop", apply_best="true; rm -rf /", strategy="$(reboot)")
    hostile["annotations"] = {"params": '{"apply_best": true}'}
    outcomes = await intake.process(parse_message(body(hostile)))
    record = record_of(store, outcomes[0].execution_id or "")
    assert record.params == {"apply_best": False}


async def test_the_resolution_audit_entry_has_mttr_and_time_to_remediate(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    make_intake: MakeIntake,
    clock: Clock,
    run_jobs: Callable[..., bool],
    redis: redis_lib.Redis,
) -> None:
    store = store_factory(make_config(alerts={"CacheStale": "FLUSH_REDIS"}))
    clock.now = ts("2026-11-25T12:05:00Z")
    intake, _ = make_intake(store)
    assert await post(intake, alert("CacheStale")) == ["enqueued"]
    assert run_jobs(store, clock)
    resolved = alert("CacheStale", status="resolved", ends_at="2026-11-25T12:20:00Z")
    assert await post(intake, resolved) == ["resolved"]
    (entry,) = audit.read(redis, 10, event="decision", reason="resolved")
    assert entry["resolution_seconds"] == 1200
    assert entry["time_to_remediate_seconds"] == 300
    assert entry["command"] == "FLUSH_REDIS"
    assert entry["first"] is True
    assert entry["execution_id"].startswith("alert-")


async def test_episodes_that_expired_leave_the_active_list(
    store: Store, make_intake: MakeIntake, redis: redis_lib.Redis
) -> None:
    intake, _ = make_intake(store)
    await post(intake, alert(), alert("Other", fingerprint="0e0e"))
    assert len(store.active_episodes()) == 2
    expired = parse_message(body(alert())).alerts[0].dedup_key
    redis.delete(keys.episode(expired))  # as its TTL would
    assert [e["alertname"] for e in store.active_episodes()] == ["Other"]
    assert redis.zcard(keys.EPISODES_ACTIVE) == 1


async def test_a_resolution_sent_again_still_cancels_the_execution_it_did_not_cancel(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    make_intake: MakeIntake,
    redis: redis_lib.Redis,
) -> None:
    """A resolution whose cancel met a Redis error (a 503) is sent again; by then its first
    copy has recorded the resolution, and the execution must still not run."""
    config = make_config(commands={"EMERGENCY_RESTART": {"approval": "always"}})
    intake, _ = make_intake(store_factory(config))
    (fired,) = await intake.process(parse_message(body(alert())))
    assert (fired.decision, fired.execution_id is not None) == ("awaiting_approval", True)
    dedup_key = parse_message(body(alert())).alerts[0].dedup_key
    redis.set(keys.resolved(dedup_key), "1")  # the first copy's record, its cancel lost
    resolved = alert(status="resolved", ends_at="2026-11-25T12:20:00Z")
    (outcome,) = await intake.process(parse_message(body(resolved)))
    assert "cancelled before it started" in outcome.detail
    assert record_of(intake.store, fired.execution_id or "").status == "cancelled"


async def test_a_resolution_logs_the_entry_the_stream_holds(
    store: Store, make_intake: MakeIntake, redis: redis_lib.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    intake, _ = make_intake(store)
    await post(intake, alert())
    caplog.set_level("INFO", logger="remediator.audit")
    await post(intake, alert(status="resolved", ends_at="2026-11-25T12:20:00Z"))
    logged = [
        json.loads(r.__dict__["audit"])
        for r in caplog.records
        if r.getMessage() == "audit decision"
    ]
    (streamed,) = audit.read(redis, 1, event="decision", reason="resolved")
    streamed.pop("id")
    assert logged == [streamed]
    assert (streamed["command"], streamed["first"]) == ("EMERGENCY_RESTART", True)

"""``thesis-console check`` (Nagios exit codes, history across runs) and ``serve-metrics`` (parsed by
prometheus_client's own parsers, matching ``status --json``)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue, Worker

from tests.helpers import wait_for
from thesis_console import cli
from thesis_console.core import contract
from thesis_console.core.alerts.history import AlertHistory
from thesis_console.core.embedded_redis import free_port
from thesis_console.core.supervisor_protocol import INDEX_KEY, RECORD_TTL_S, SupervisorRecord, record_key
from worker_runner.worker import ThesisSimpleWorker

RESOURCES = Path(__file__).resolve().parent.parent / "resources"


@pytest.fixture(autouse=True)
def private_files(tmp_path, monkeypatch):
    """Own profiles, rules and data folder; no inherited REDIS_URL."""
    monkeypatch.setenv("THESIS_PROFILES", str(tmp_path / "profiles.json"))
    monkeypatch.setenv("THESIS_ALERTS", str(tmp_path / "alerts.json"))
    monkeypatch.setenv("THESIS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    return tmp_path


def call(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_rules(path: Path, rules: dict) -> None:
    path.write_text(json.dumps({"profiles": {"command line": rules}}))


def test_check_ok_warning_critical(capsys, redis_conn, redis_url, private_files):
    code, out, _ = call(capsys, "check", "--url", redis_url)
    assert code == 0
    assert out == "OK - no alert firing (0 queues, 0 workers, 0 supervisors) | workers=0;;;0 supervisors=0;;;0 alerts_firing=0;;;0\n"
    queue = contract.thesis_queue(redis_conn)
    for _ in range(3):
        queue.enqueue("tests.jobs.noop")
    write_rules(private_files / "alerts.json", {"no_worker": {"for_s": 0}, "oldest_waiting": {"threshold": 0}})
    code, out, _ = call(capsys, "check", "--url", redis_url)
    assert code == 2
    assert out.splitlines() == [
        "CRITICAL no_worker thesis: 3 jobs waiting and no live worker serves the queue"
        " | waiting_thesis=3;50;;0 workers=0;;;0 supervisors=0;;;0 alerts_firing=2;;;0",
        *[line for line in out.splitlines() if line.startswith("WARNING oldest_waiting thesis: the next waiting job")],
    ] and len(out.splitlines()) == 2
    write_rules(private_files / "alerts.json", {"no_worker": {"enabled": False}, "oldest_waiting": {"threshold": 0}})
    code, out, _ = call(capsys, "check", "--url", redis_url, "--json")
    result = json.loads(out)
    assert code == 1 and result["status"] == "warning" and result["exit_code"] == 1
    assert [a["rule"] for a in result["firing"]] == ["oldest_waiting"] and result["round_trips"] == 4


def test_check_perfdata_per_queue_with_the_depth_limit(capsys, redis_conn, redis_url, private_files):
    contract.thesis_queue(redis_conn).enqueue("tests.jobs.noop")
    for name in ("my 'odd' queue", "a=b|c"):
        Queue(name, connection=redis_conn).enqueue("tests.jobs.noop")
    Worker(["thesis"], connection=redis_conn, name="w1").register_birth()
    write_rules(private_files / "alerts.json", {"waiting_depth": {"threshold": 0, "for_s": 0},
                                                "no_worker": {"enabled": False}})  # fmt: skip
    code, out, _ = call(capsys, "check", "--url", redis_url)
    first, *rest = out.splitlines()
    assert code == 1 and first.startswith("WARNING waiting_depth a=b/c: 1 jobs waiting") and first.count("|") == 1
    assert first.split(" | ")[1] == (
        "waiting_a_b_c=1;0;;0 'waiting_my ''odd'' queue'=1;0;;0 waiting_thesis=1;0;;0"
        " workers=1;;;0 supervisors=0;;;0 alerts_firing=3;;;0"
    )
    assert len(rest) == 2 and not any("|" in line for line in rest)
    write_rules(private_files / "alerts.json", {"waiting_depth": {"enabled": False}, "no_worker": {"enabled": False}})
    code, out, _ = call(capsys, "check", "--url", redis_url)
    assert code == 0 and out.split(" | ")[1].startswith("waiting_a_b_c=1;;;0 ")


def test_check_history_carries_durations_across_runs(capsys, redis_conn, redis_url, private_files):
    contract.thesis_queue(redis_conn).enqueue("tests.jobs.noop")
    code, out, _ = call(capsys, "check", "--url", redis_url, "--json")
    result = json.loads(out)
    assert code == 0 and [p["rule"] for p in result["pending"]] == ["no_worker"]  # 60 s not yet over
    history = AlertHistory("command line", redis_url, private_files / "data" / "alerts")
    assert history.path.exists()
    with history.editing() as tracker:  # as if the previous run (cron, a minute ago) had seen it first
        tracker.pending = {k: v - 61 for k, v in tracker.pending.items()}
    code, out, _ = call(capsys, "check", "--url", redis_url, "--json")
    result = json.loads(out)
    assert code == 2 and result["firing"][0]["rule"] == "no_worker" and result["started"] == [result["firing"][0]["id"]]
    code, out, _ = call(capsys, "check", "--url", redis_url, "--json")
    assert json.loads(out)["started"] == []  # the same occurrence: not started again
    redis_conn.delete("rq:queue:thesis")
    code, out, _ = call(capsys, "check", "--url", redis_url, "--json")
    assert code == 0 and [r["rule"] for r in json.loads(out)["ended"]] == ["no_worker"]
    records = history.load().records
    assert len(records) == 1 and records[0].ended_at is not None


def test_check_without_history_writes_no_file(capsys, redis_conn, redis_url, private_files):
    code, _, _ = call(capsys, "check", "--url", redis_url, "--no-history")
    assert code == 0 and not (private_files / "data" / "alerts").exists()


def test_check_unknown_for_bad_rules_usage_and_unreachable(capsys, redis_conn, redis_url, private_files):
    (private_files / "alerts.json").write_text('{"profiles": {"command line": {"stuck_job": {"threshold": "x"}}}}')
    code, out, _ = call(capsys, "check", "--url", redis_url)
    assert code == 3 and out.startswith("UNKNOWN - ") and "threshold must be a number" in out
    code, _, err = call(capsys, "check", "--bogus")
    assert code == 3 and "unrecognized arguments" in err
    assert call(capsys, "--url", redis_url, "check", "--bogus")[0] == 3
    assert call(capsys, "jobs", "--queue", "check", "--bogus")[0] == 2  # another subcommand keeps its code
    code, _, _ = call(capsys, "check", "--url", redis_url, "--profile", "x")
    assert code == 3
    code, _, err = call(capsys, "check", "--url", f"redis://127.0.0.1:{free_port()}/0")
    assert code == 3 and "refused" in err


# ---------------------------------------------------------------------- serve-metrics
class Endpoint:
    def __init__(self, url: str, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "thesis_console", "serve-metrics", "--port", "0", "--url", url, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ},
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("serving metrics on http://127.0.0.1:"), line + self.proc.stderr.read()  # type: ignore[union-attr]
        self.url = line.split()[3]

    def scrape(self, accept: str = "text/plain") -> str:
        request = urllib.request.Request(self.url, headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read().decode()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_endpoint_matches_status_json(capsys, redis_conn, redis_url):
    queue = contract.thesis_queue(redis_conn)
    for _ in range(5):
        queue.enqueue("tests.jobs.boom", retry=None)
    for _ in range(5):
        queue.enqueue("tests.jobs.noop")
    ThesisSimpleWorker(["thesis"], connection=redis_conn).work(burst=True)
    for _ in range(4):
        queue.enqueue("tests.jobs.noop")
    idle = Worker(["thesis", "emails"], connection=redis_conn, name="idle-one")
    idle.register_birth()
    now = time.time()
    record = SupervisorRecord(id="sup-1", host="h", pid=1, queues=("thesis",), desired=4, live=3, workers=(),
                              started_at=now - 60, restarts=0, heartbeat_at=now, busy=2)  # fmt: skip
    redis_conn.set(record_key("sup-1"), record.to_json(), ex=RECORD_TTL_S)
    redis_conn.zadd(INDEX_KEY, {"sup-1": now, "sup-gone": now - 100})
    endpoint = Endpoint(redis_url)
    try:
        text = endpoint.scrape()
        openmetrics = endpoint.scrape("application/openmetrics-text; version=1.0.0")
    finally:
        assert endpoint.stop() == 0
    code, out, _ = call(capsys, "status", "--url", redis_url, "--json")
    status = json.loads(out)
    got = samples(text)
    for q in status["queues"]:
        for state in ("waiting", "active", "scheduled", "deferred", "completed", "failed", "canceled"):
            labels = (("backend", q["backend"]), ("queue", q["name"]), ("state", state))
            assert got[("thesis_queue_jobs", labels)] == q[state]
    assert got[("thesis_workers_alive", ())] == len(status["workers"]) == 1
    assert got[("thesis_supervisors_alive", ())] == len(status["supervisors"]) == 1
    sup = (("host", "h"), ("supervisor", "sup-1"))
    assert (got[("thesis_supervisor_workers_live", sup)], got[("thesis_supervisor_workers_busy", sup)],
            got[("thesis_supervisor_workers_desired", sup)]) == (3, 2, 4)  # fmt: skip
    thesis = (("backend", "rq"), ("queue", "thesis"))
    assert got[("thesis_queue_jobs_completed_total", thesis)] == 5 == status["queues"][0]["completed"]
    assert got[("thesis_queue_jobs_failed_total", thesis)] == 5 == status["queues"][0]["failed"]
    assert got[("thesis_job_runtime_seconds_count", thesis)] == 10
    assert got[("thesis_queue_workers", thesis)] == 1 and got[("thesis_up", ())] == 1
    assert got[("thesis_scrape_round_trips", ())] == 4
    assert got[("thesis_supervisor_heartbeat_age_seconds", (("supervisor", "sup-gone"),))] >= 100
    firing = {labels for (name, labels), v in got.items() if name == "thesis_alert_firing" and v == 1}
    assert (("queue", ""), ("rule", "supervisor_silent"), ("severity", "critical"), ("subject", "sup-gone")) in firing
    assert (("queue", "thesis"), ("rule", "failure_rate"), ("severity", "critical"), ("subject", "thesis")) in firing
    families = {f.name for f in parse_openmetrics(openmetrics)}
    assert {"thesis_queue_jobs", "thesis_queue_jobs_completed", "thesis_job_runtime_seconds"} <= families
    # The shipped alerting rules and dashboard ask only for series the endpoint exposes.
    exposed = {name for name, _labels in got}
    for shipped in ("prometheus/thesis-alerts.yml", "grafana/thesis-queue-dashboard.json"):
        asked = set(re.findall(r"\bthesis_[a-z_]+", (RESOURCES / shipped).read_text()))
        assert asked and asked <= exposed, (shipped, asked - exposed)


def test_endpoint_says_down_when_redis_is_gone(tmp_path):
    from thesis_console.core.embedded_redis import start_server

    server = start_server(tmp_path / "r", free_port())
    endpoint = Endpoint(server.url)
    try:
        assert samples(endpoint.scrape())[("thesis_up", ())] == 1
        server.stop()
        assert samples(wait_for(lambda: endpoint.scrape(), 20))[("thesis_up", ())] == 0
    finally:
        assert endpoint.stop() == 0


def test_endpoint_refuses_a_port_in_use(redis_url):
    first = Endpoint(redis_url)
    try:
        port = first.url.split(":")[2].split("/")[0]
        second = subprocess.run(
            [sys.executable, "-m", "thesis_console", "serve-metrics", "--port", port, "--url", redis_url],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert second.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.stop()


def test_redis_is_untouched_by_scrapes(redis_conn, redis_url):
    contract.thesis_queue(redis_conn).enqueue("tests.jobs.noop")
    before = sorted(redis_conn.keys("*"))
    redis_conn.config_resetstat()
    endpoint = Endpoint(redis_url)
    try:
        endpoint.scrape()
        endpoint.scrape()
    finally:
        endpoint.stop()
    stats = redis.Redis.from_url(redis_url).info("commandstats")
    assert not [k for k in stats if k.split("_", 1)[1] in {"set", "hset", "del", "zadd", "rpush", "lpush", "expire", "hincrby"}]
    assert sorted(redis_conn.keys("*")) == before


def test_shipped_alerting_rules_use_the_default_thresholds():
    from thesis_console.core.alerts.rules import DEFAULTS, RuleKind

    text = (RESOURCES / "prometheus/thesis-alerts.yml").read_text()
    failure = DEFAULTS[RuleKind.FAILURE_RATE]
    expected = [
        f") > {failure.threshold:g}", f"[{int(failure.window_s // 60)}m]", f">= {failure.min_ended}",
        f'thesis_queue_jobs{{state="waiting"}} > {DEFAULTS[RuleKind.WAITING_DEPTH].threshold:g}',
        f"for: {int(DEFAULTS[RuleKind.WAITING_DEPTH].for_s // 60)}m",
        f"thesis_queue_oldest_waiting_age_seconds > {DEFAULTS[RuleKind.OLDEST_WAITING].threshold:g}",
        f"for: {int(DEFAULTS[RuleKind.NO_WORKER].for_s // 60)}m",
        f"thesis_queue_stalled_seconds > {DEFAULTS[RuleKind.STUCK_JOB].threshold:g}",
        f"thesis_supervisor_heartbeat_age_seconds > {DEFAULTS[RuleKind.SUPERVISOR_SILENT].threshold:g}",
    ]  # fmt: skip
    assert [e for e in expected if e not in text] == []


def test_check_and_endpoint_agree_on_firing_alerts(capsys, redis_conn, redis_url, private_files):
    write_rules(private_files / "alerts.json", {"no_worker": {"for_s": 0}, "oldest_waiting": {"threshold": 0},
                                                "waiting_depth": {"threshold": 1, "for_s": 0}})  # fmt: skip
    queue = contract.thesis_queue(redis_conn)
    for _ in range(2):
        queue.enqueue("tests.jobs.noop")
    redis_conn.zadd(INDEX_KEY, {"sup-gone": time.time() - 100})
    code, out, _ = call(capsys, "check", "--url", redis_url, "--json", "--no-history")
    from_check = {(a["rule"], a["queue"], a["subject"], a["severity"]) for a in json.loads(out)["firing"]}
    endpoint = Endpoint(redis_url)
    try:
        got = samples(endpoint.scrape())
    finally:
        endpoint.stop()
    from_endpoint = {
        (dict(labels)["rule"], dict(labels)["queue"], dict(labels)["subject"], dict(labels)["severity"])
        for (name, labels), value in got.items() if name == "thesis_alert_firing" and value == 1
    }
    assert code == 2 and len(from_check) == 4 and from_check == from_endpoint


def test_check_and_endpoint_on_a_redis_with_an_rq_and_a_bullmq_queue(capsys, redis_conn, redis_url, private_files):
    from tests.core.bullmq.bull_jobs import QUEUE as BULL_QUEUE
    from tests.core.bullmq.bull_jobs import add_jobs

    write_rules(private_files / "alerts.json", {"no_worker": {"for_s": 0}})
    queue = contract.thesis_queue(redis_conn)
    for _ in range(2):
        queue.enqueue("tests.jobs.noop")
    Worker(["thesis"], connection=redis_conn, name="rq-serving").register_birth()  # the RQ queue is served
    add_jobs(redis_url, [({"thesisId": f"t-{n}"}, {}) for n in range(3)])  # the BullMQ queue is not
    code, out, _ = call(capsys, "check", "--url", redis_url, "--json", "--no-history")
    result = json.loads(out)
    assert code == 2 and result["queues"] == ["thesis", BULL_QUEUE] and result["round_trips"] == 5
    firing = {(a["rule"], a["queue"]) for a in result["firing"]}
    assert firing == {("no_worker", BULL_QUEUE)}
    (alert,) = result["firing"]
    assert alert["message"] == f"{BULL_QUEUE}: 3 jobs waiting and no live worker serves the queue"
    endpoint = Endpoint(redis_url)
    try:
        got = samples(endpoint.scrape())
    finally:
        endpoint.stop()
    code, out, _ = call(capsys, "status", "--url", redis_url, "--json")
    status = {q["name"]: q for q in json.loads(out)["queues"]}
    assert {q["backend"] for q in status.values()} == {"rq", "bullmq"}
    for name, q in status.items():
        for state in ("waiting", "active", "scheduled", "deferred", "completed", "failed", "canceled"):
            assert got[("thesis_queue_jobs", (("backend", q["backend"]), ("queue", name), ("state", state)))] == q[state]
    assert got[("thesis_queue_workers", (("backend", "bullmq"), ("queue", BULL_QUEUE)))] == 0
    assert got[("thesis_queue_workers", (("backend", "rq"), ("queue", "thesis")))] == 1
    assert got[("thesis_queue_oldest_waiting_age_seconds", (("backend", "bullmq"), ("queue", BULL_QUEUE)))] >= 0
    assert ("thesis_queue_jobs_completed_total", (("backend", "bullmq"), ("queue", BULL_QUEUE))) in got
    assert got[("thesis_scrape_round_trips", ())] == 5
    assert got[("thesis_alert_firing", (("queue", BULL_QUEUE), ("rule", "no_worker"), ("severity", "critical"),
                                        ("subject", BULL_QUEUE)))] == 1  # fmt: skip


def test_check_keeps_the_bullmq_queues_it_found_between_runs(capsys, private_redis_server, private_files):
    """A check run walks the key space for BullMQ queues; the next runs (cron) check the names it found
    in one round trip instead, for 10 minutes; a queue removed meanwhile drops out at once."""
    from tests.core.bulk_jobs import command_calls, reset_command_stats
    from tests.core.bullmq.bull_jobs import add_jobs
    from thesis_console.core.bullmq.known_queues import KnownQueues

    url = private_redis_server.url
    conn = redis.Redis.from_url(url)
    add_jobs(url, [({"topic": "a"}, {})], queue="thesis-generation")
    add_jobs(url, [({"topic": "b"}, {})], queue="old-queue")

    reset_command_stats(conn)
    call(capsys, "check", "--url", url, "--json")
    assert command_calls(conn).get("scan", 0) >= 1  # the first run walks
    reset_command_stats(conn)
    call(capsys, "check", "--url", url, "--json")
    assert command_calls(conn).get("scan", 0) == 0  # the next one checks the kept names
    conn.delete(*conn.keys("bull:old-queue:*"))
    reset_command_stats(conn)
    code, out, _ = call(capsys, "check", "--url", url, "--json")
    assert command_calls(conn).get("scan", 0) == 0
    assert "old-queue" not in out
    known = KnownQueues.of("command line", url, "bull", private_files / "data" / "bullmq-queues")
    assert known.load() == ["old-queue", "thesis-generation"]  # as found by the walk
    assert known.load(now=time.time() + 601) is None  # then walked again
    code, _, _ = call(capsys, "check", "--url", url, "--no-history")
    assert code in (0, 1, 2)
    conn.close()


def test_kept_bullmq_queue_names_survive_damage(tmp_path):
    from thesis_console.core.bullmq.known_queues import KnownQueues

    known = KnownQueues(tmp_path / "k.json")
    assert known.load() is None
    known.save(["a", "b"], now=100.0)
    assert known.load(now=150.0) == ["a", "b"]
    assert known.load(now=50.0) is None  # a clock that went back: walk again
    for damaged in ("", "{", '{"found_at": 1}', '{"found_at": "x", "queues": []}', '{"found_at": 1, "queues": [1]}'):
        (tmp_path / "k.json").write_text(damaged)
        assert known.load(now=2.0) is None

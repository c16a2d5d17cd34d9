"""status, jobs and show on a BullMQ queue: the same --json shapes as for RQ, with the backend in each record."""

from __future__ import annotations

import json

import pytest
import redis

from tests.core.bullmq.bull_jobs import QUEUE, add_jobs
from tests.helpers import wait_for
from tests.node_bullmq import NodeWorker
from tests.test_cli import call, private_profiles  # noqa: F401  (autouse fixture: a private profiles file)
from thesis_console.core.bullmq.job_defaults import SEED_OPTIONS


def test_status_jobs_and_show_on_a_bullmq_queue(capsys, redis_conn, redis_url):
    ids = add_jobs(redis_url, [({"thesisId": f"t{i}", "topic": f"Thesis {i}"}, {"attempts": 3}) for i in range(2)])
    redis_conn.rpush(f"bull:{QUEUE}:{ids[0]}:logs", "a log line")
    redis_conn.sadd("rq:queues", "rq:queue:thesis")

    code, out, _ = call(capsys, "status", "--url", redis_url)
    assert code == 0
    rows = {line.split()[0]: line.split()[1:3] for line in out.splitlines()[3:5]}
    assert rows == {QUEUE: ["bullmq", "2"], "thesis": ["rq", "0"]}

    code, out, _ = call(capsys, "--json", "status", "--url", redis_url)
    queues = {q["name"]: q for q in json.loads(out)["queues"]}
    assert code == 0 and queues[QUEUE]["backend"] == "bullmq" and queues[QUEUE]["waiting"] == 2
    assert queues["thesis"]["backend"] == "rq"

    code, out, _ = call(capsys, "--json", "jobs", "--url", redis_url, "--queue", QUEUE, "--state", "waiting")
    page = json.loads(out)
    assert code == 0 and page["total"] == 2
    assert [(r["id"], r["backend"], r["topic"], r["retries_left"]) for r in page["rows"]] == [
        (ids[0], "bullmq", "Thesis 0", 3),
        (ids[1], "bullmq", "Thesis 1", 3),
    ]

    code, out, _ = call(capsys, "--json", "show", ids[0], "--url", redis_url, "--queue", QUEUE)
    detail = json.loads(out)
    assert code == 0 and detail["row"]["backend"] == "bullmq" and detail["function"] == "generate-thesis"
    assert detail["args"]["value"] == {"thesisId": "t0", "topic": "Thesis 0"} and detail["logs"] == ["a log line"]

    code, out, _ = call(capsys, "show", ids[1], "--url", redis_url, "--queue", QUEUE)
    assert code == 0 and "backend       bullmq" in out and "data:" in out and "Thesis 1" in out

    code, out, err = call(capsys, "show", "404", "--url", redis_url, "--queue", QUEUE)
    assert code != 0 and f"job 404 not found in BullMQ queue {QUEUE}" in err


def test_job_actions_on_a_bullmq_queue_go_through_bullmq(capsys, redis_conn, redis_url):
    waiting = add_jobs(redis_url, [({"topic": f"w{i}"}, {}) for i in range(3)])
    (delayed,) = add_jobs(redis_url, [({"topic": "later"}, {"delay": 600_000})])

    code, out, _ = call(capsys, "--json", "promote", delayed, "--url", redis_url, "--queue", QUEUE)
    assert code == 0 and json.loads(out)["done"] == [delayed] and json.loads(out)["backend"] == "bullmq"
    code, out, _ = call(capsys, "--json", "cancel", waiting[0], "--url", redis_url, "--queue", QUEUE)
    assert code == 0 and json.loads(out)["done"] == [waiting[0]] and not redis_conn.exists(f"bull:{QUEUE}:{waiting[0]}")
    code, out, _ = call(capsys, "--json", "stop", waiting[1], "--url", redis_url, "--queue", QUEUE)
    assert json.loads(out)["skipped"][waiting[1]].startswith("BullMQ offers no way to stop")
    code, out, _ = call(capsys, "--json", "empty", "--queue", QUEUE, "--state", "waiting", "--yes", "--url", redis_url)
    assert code == 0 and sorted(json.loads(out)["done"]) == sorted([waiting[1], waiting[2], delayed])
    assert redis_conn.llen(f"bull:{QUEUE}:wait") == 0


@pytest.mark.slow(9)
def test_a_thesis_enqueued_from_the_console_is_completed_by_the_node_worker(capsys, redis_conn, redis_url):
    add_jobs(redis_url, [({"thesisId": "existing", "topic": "makes the queue known"}, {})])
    code, out, _ = call(capsys, "--json", "enqueue", "--queue", QUEUE, "--topic", "Console thesis", "--url", redis_url)
    job_id = json.loads(out)["id"]
    assert json.loads(out)["backend"] == "bullmq"
    worker = NodeWorker(redis_url)
    try:
        worker.wait_ready()
        wait_for(lambda: redis_conn.zscore(f"bull:{QUEUE}:completed", job_id) is not None, message="the job completed")
    finally:
        worker.stop()
    code, out, _ = call(capsys, "--json", "show", job_id, "--url", redis_url, "--queue", QUEUE)
    detail = json.loads(out)
    assert detail["row"]["state"] == "completed" and detail["row"]["progress"] == 100
    assert detail["function"] == "generate-thesis" and {**detail["meta"]["value"], "delay": None} == {**SEED_OPTIONS, "delay": None}
    data = detail["args"]["value"]
    assert data["topic"] == "Console thesis" and len(data["thesisId"]) == 32 and data["chapters"] == 5
    assert detail["result"]["value"]["thesisId"] == data["thesisId"]


def test_pause_resume_and_enqueue_options_on_a_bullmq_queue(capsys, redis_conn, redis_url):
    (job,) = add_jobs(redis_url, [({"topic": "w"}, {})])
    code, out, _ = call(capsys, "--json", "pause", "--queue", QUEUE, "--url", redis_url)
    assert code == 0 and json.loads(out)["paused"] is True
    assert redis_conn.hget(f"bull:{QUEUE}:meta", "paused") == b"1" and redis_conn.lrange(f"bull:{QUEUE}:paused", 0, -1) == [job.encode()]
    code, out, _ = call(capsys, "status", "--url", redis_url)
    assert code == 0 and out.splitlines()[3].split()[0] == QUEUE and out.splitlines()[3].split()[-1] == "paused"
    code, out, _ = call(capsys, "resume", "--queue", QUEUE, "--url", redis_url)
    assert code == 0 and out.strip() == f"queue {QUEUE} resumed"
    assert redis_conn.hget(f"bull:{QUEUE}:meta", "paused") is None and redis_conn.lrange(f"bull:{QUEUE}:wait", 0, -1) == [job.encode()]
    code, out, _ = call(capsys, "resume", "--queue", QUEUE, "--url", redis_url)
    assert code == 0 and out.strip() == f"queue {QUEUE} was not paused"

    code, out, _ = call(capsys, "--json", "enqueue", "--queue", QUEUE, "--topic", "Given id", "--thesis-id", "th-42", "--url", redis_url)
    new = json.loads(out)["id"]
    assert code == 0 and json.loads(redis_conn.hget(f"bull:{QUEUE}:{new}", "data"))["thesisId"] == "th-42"
    code, _, err = call(capsys, "enqueue", "--queue", "thesis", "--topic", "RQ job", "--thesis-id", "x", "--url", redis_url)
    assert code == 1 and "a thesisId is given only to the jobs of a BullMQ queue" in err


def test_status_lists_bullmq_workers_with_their_backend_and_library(capsys, redis_conn, redis_url):
    add_jobs(redis_url, [({"topic": "keeps the queue known"}, {"delay": 3_600_000})])
    worker = NodeWorker(redis_url, options={"name": "cli-node"})
    try:
        worker.wait_ready()

        def listed():
            code, out, _ = call(capsys, "--json", "status", "--url", redis_url)
            return json.loads(out)["bullmq_workers"] if code == 0 else None

        (record,) = wait_for(listed, message="the Node worker in status --json")
        assert (record["backend"], record["library"], record["name"], record["queue"]) == ("bullmq", "node", "cli-node", QUEUE)
        assert record["address"].startswith("127.0.0.1:") and record["connections"] == 1

        code, out, _ = call(capsys, "status", "--url", redis_url)
        (line,) = [line for line in out.splitlines() if line.startswith("cli-node")]
        assert code == 0 and line.split()[1:3] == ["node", QUEUE] and "BULLMQ WORKER" in out
    finally:
        worker.stop()


def test_status_says_when_the_server_refuses_to_list_bullmq_workers(capsys, private_redis_server):
    url = private_redis_server.url
    add_jobs(url, [({"topic": "waiting"}, {})])
    admin = redis.Redis.from_url(url)
    admin.acl_setuser("console", enabled=True, passwords=["+secret"], keys=["*"], channels=["*"],
                      commands=["+@all", "-client", "+client|setname", "+client|getname", "+client|id"])  # fmt: skip
    admin.close()
    limited = url.replace("redis://", "redis://console:secret@")

    code, out, _ = call(capsys, "status", "--url", limited)
    assert code == 0 and out.splitlines()[3].split()[:3] == [QUEUE, "bullmq", "1"]
    assert "refused CLIENT LIST to this user (ACL)" in out and "secret" not in out
    code, out, _ = call(capsys, "--json", "status", "--url", limited)
    status = json.loads(out)
    assert code == 0 and status["bullmq_workers"] == [] and "ACL" in status["bullmq_workers_problem"]

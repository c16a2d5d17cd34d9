"""The hostile-data corpus through every reading path: snapshot, pages, detail, search, CLI, GUI models.

Nothing crashes, nothing hangs, every odd row says what is wrong with it, and no pickle is ever
loaded (the malicious ones would create files in the marker folder).
"""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aredis

from tests.core.bulk_jobs import READ_TIMEOUT_S
from tests.corpus import hostile_data
from thesis_console import cli
from thesis_console.core.reader import QueueReader
from thesis_console.core.types import Backend, JobState


@pytest.fixture
def corpus(redis_conn, tmp_path):
    markers = tmp_path / "markers"
    cases = hostile_data.load(redis_conn, markers)
    yield cases, markers
    assert list(markers.iterdir()) == [], "a pickle from Redis was unpickled"


def _read(url: str, work):
    async def go():
        client = aredis.Redis.from_url(url)
        try:
            return await asyncio.wait_for(work(QueueReader(client, timeout_s=READ_TIMEOUT_S)), timeout=READ_TIMEOUT_S)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_snapshot_survives_the_corpus(redis_url, corpus):
    snap = _read(redis_url, lambda r: r.snapshot())
    hostile = snap.queue(hostile_data.QUEUE)
    assert hostile.waiting >= 7 and hostile.failed == 1 and hostile.completed == 1 and hostile.active == 1
    names = {q.name for q in snap.queues}
    assert "not-a-list" in names  # listed, with its problem said, not dropped silently
    bull = [q for q in snap.queues if q.backend is Backend.BULLMQ]
    assert [(q.name, q.waiting, q.completed) for q in bull] == [("thesis", 1, 1)]  # the corpus's BullMQ queue
    assert snap.round_trips <= 3  # RQ's two, every BullMQ queue's counts in one


def test_every_state_pages_and_odd_rows_say_why(redis_url, corpus):
    cases, _markers = corpus

    async def pages(reader):
        return {state: await reader.page(hostile_data.QUEUE, state, 0, 50) for state in JobState}

    by_state = _read(redis_url, pages)
    rows = {row.id: row for page in by_state.values() for row in page.rows}
    for case in cases:
        assert case.job_id in rows, f"{case.what}: no row"
        row = rows[case.job_id]
        assert row.state.value == case.state, case.what
        if case.expect_problem:
            assert row.problem, f"{case.what}: the row does not say what is wrong"
        else:
            assert not row.problem, f"{case.what}: unexpected problem {row.problem!r}"


def test_detail_of_every_case(redis_url, corpus):
    cases, _markers = corpus

    async def details(reader):
        found = {}
        for case in cases:
            try:
                found[case.job_id] = await reader.detail(case.job_id)
            except Exception as exc:  # only a readable CoreError is acceptable
                found[case.job_id] = exc
        return found

    found = _read(redis_url, details)
    from thesis_console.core.types import CoreError

    for case in cases:
        value = found[case.job_id]
        if isinstance(value, Exception):
            assert isinstance(value, CoreError), f"{case.what}: {type(value).__name__}: {value}"
            continue
        assert value.row.id == case.job_id
    evil = found["evil"]
    assert evil.args.kind == "pickled" and evil.args.size > 0
    assert evil.result.kind == "pickled"
    assert found["old-rq"].traceback and "old failure" in found["old-rq"].traceback
    assert found["big-args"].args.kind == "json"
    junk = found["junk-data"]
    assert junk.row.problem or junk.args.kind == "error", "undecodable data must be said in the detail"


def test_search_walks_the_corpus(redis_url, corpus):
    async def search(reader):
        hits = []
        for state in JobState:
            async for batch in reader.search(hostile_data.QUEUE, state, "hostile case"):
                hits.extend(batch)
        return hits

    hits = _read(redis_url, search)
    assert {"ok-json", "bad-types", "big-args"} <= {row.id for row in hits}


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["jobs", "--queue", hostile_data.QUEUE, "--state", "waiting"],
        ["jobs", "--queue", hostile_data.QUEUE, "--state", "active"],
        ["show", "evil"],
        ["show", "half"],
        ["show", "string-job"],
    ],
)
def test_cli_reads_the_corpus(redis_url, corpus, capsys, argv):
    code = cli.main(["--url", redis_url, *argv])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    assert "Traceback" not in out + err
    json_code = cli.main(["--url", redis_url, "--json", *argv])
    out, _ = capsys.readouterr()
    assert json_code == code
    if code == 0:
        json.loads(out)


def test_gui_model_shows_the_corpus(redis_url, corpus, qtmodeltester):
    from PySide6.QtCore import Qt

    from thesis_console.ui.models.job_table import JobRowsModel

    page = _read(redis_url, lambda r: r.page(hostile_data.QUEUE, JobState.WAITING, 0, 50))
    model = JobRowsModel()
    model.append_rows(page.rows)
    qtmodeltester.check(model)
    for row in range(model.rowCount()):
        for col in range(model.columnCount()):
            for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.ForegroundRole):
                model.data(model.index(row, col), role)


def test_a_million_member_registry_pages_fast_in_commands(redis_url, redis_conn):
    hostile_data.huge_registry(redis_conn, members=1_000_000, queue="huge")

    async def deep(reader):
        first = await reader.page("huge", JobState.FAILED, 0, 50)
        last = await reader.page("huge", JobState.FAILED, 999_950, 50)
        snap = await reader.snapshot()
        return first, last, snap

    first, last, snap = _read(redis_url, deep)
    assert first.total == last.total == 1_000_000
    assert len(last.rows) == 50 and all(row.problem for row in last.rows)  # hashes do not exist
    assert snap.queue("huge").failed == 1_000_000

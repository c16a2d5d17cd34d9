"""The BullMQ hostile corpus through every reading path, as test_reading_paths.py does for RQ's:
snapshot, pages of every state, detail, search, CLI, GUI model. Nothing crashes, nothing hangs,
every odd row says what is wrong with it, and reading changes nothing."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aredis

from tests.core.bulk_jobs import READ_TIMEOUT_S
from tests.core.bullmq.bull_jobs import dump_all
from tests.corpus import bullmq_hostile
from thesis_console import cli
from thesis_console.core.reader import QueueReader
from thesis_console.core.types import Backend, CoreError, JobState

QUEUE = bullmq_hostile.QUEUE
ODD_ROWS = {
    "not_json": "data is not JSON",
    "hash_gone": "job hash is missing (removed or expired)",
    "wrong_type": "job key is not a hash (a foreign or damaged key)",
    "not_utf8": "job name is not UTF-8",
    "binary_reason": "failed reason is not UTF-8",
    "list_job": "job key is not a hash (a foreign or damaged key)",
}


@pytest.fixture
def corpus(redis_conn, redis_url):
    ids = bullmq_hostile.load(redis_conn, redis_url)
    before = dump_all(redis_conn)
    yield ids
    assert dump_all(redis_conn) == before, "reading changed Redis"


def _read(url: str, work):
    async def go():
        client = aredis.Redis.from_url(url)
        try:
            reader = QueueReader(client, timeout_s=READ_TIMEOUT_S)
            await reader.snapshot()  # finds the BullMQ queues, as the window does before anything else
            return await asyncio.wait_for(work(reader), timeout=READ_TIMEOUT_S)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_snapshot_survives_the_corpus(redis_url, corpus):
    counts = _read(redis_url, lambda r: r.snapshot()).queue(QUEUE)
    assert counts.backend is Backend.BULLMQ
    assert (counts.waiting, counts.failed, counts.completed, counts.scheduled) == (5, 2, 2, 0)
    assert "delayed is not a sorted set" in counts.problem


def test_every_state_pages_and_odd_rows_say_why(redis_url, corpus):
    async def pages(reader):
        return {state: await reader.page(QUEUE, state, 0, 50) for state in JobState}

    rows = {row.id: row for page in _read(redis_url, pages).values() for row in page.rows}
    for case, job_id in corpus.items():
        assert job_id in rows, f"{case}: no row"
        expected = ODD_ROWS.get(case)
        if expected:
            assert expected in (rows[job_id].problem or ""), f"{case}: {rows[job_id].problem!r}"
        else:
            assert rows[job_id].problem is None, f"{case}: unexpected problem {rows[job_id].problem!r}"
    assert rows[corpus["bad_stacktrace"]].state is JobState.FAILED
    assert rows[corpus["bad_returnvalue"]].state is JobState.COMPLETED


def test_detail_of_every_case(redis_url, corpus):
    async def details(reader):
        found = {}
        for case, job_id in corpus.items():
            try:
                found[case] = await reader.detail(job_id, QUEUE)
            except Exception as exc:  # only a readable CoreError is acceptable
                found[case] = exc
        return found

    found = _read(redis_url, details)
    for case, value in found.items():
        assert not isinstance(value, Exception) or isinstance(value, CoreError), f"{case}: {value!r}"
    assert found["ten_mb"].args.kind == "json" and len(found["ten_mb"].args.value["blob"]) == 10_000_000
    assert found["not_json"].args.kind == "text"
    assert found["wrong_type"].row.problem == ODD_ROWS["wrong_type"]
    assert found["list_job"].row.problem == ODD_ROWS["list_job"]
    assert found["bad_stacktrace"].traceback == "[not json"
    assert found["binary_reason"].traceback and "failed on purpose" in found["binary_reason"].traceback
    assert found["bad_returnvalue"].result.kind == "binary"


def test_search_walks_the_corpus(redis_url, corpus):
    async def search(reader):
        hits = []
        for state in JobState:
            async for batch in reader.search(QUEUE, state, "hostile case"):
                hits.extend(batch)
        return hits

    hits = {row.id for row in _read(redis_url, search)}
    assert hits == {corpus[c] for c in ("bad_stacktrace", "binary_reason", "bad_returnvalue")}


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["jobs", "--queue", QUEUE, "--state", "waiting"],
        ["jobs", "--queue", QUEUE, "--state", "failed"],
        ["jobs", "--queue", QUEUE, "--state", "completed"],
        ["jobs", "--queue", QUEUE, "--state", "scheduled"],
        ["show", "wrong_type", "--queue", QUEUE],
        ["show", "ten_mb", "--queue", QUEUE],
        ["show", "bad_returnvalue", "--queue", QUEUE],
        ["show", "hash_gone", "--queue", QUEUE],
    ],
)
def test_cli_reads_the_corpus(redis_url, corpus, capsys, argv):
    argv = [corpus.get(word, word) for word in argv]
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

    async def rows(reader):
        return [row for state in (JobState.WAITING, JobState.FAILED, JobState.COMPLETED)
                for row in (await reader.page(QUEUE, state, 0, 50)).rows]  # fmt: skip

    model = JobRowsModel()
    model.append_rows(tuple(_read(redis_url, rows)))
    qtmodeltester.check(model)
    for row in range(model.rowCount()):
        for col in range(model.columnCount()):
            for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.ForegroundRole):
                model.data(model.index(row, col), role)

from __future__ import annotations

from pathlib import Path

import pytest

from worker_runner import config
from worker_runner.cli import build_parser


def _flags(*argv: str) -> dict:
    return vars(build_parser().parse_args(list(argv)))


def test_defaults(monkeypatch):
    monkeypatch.delenv("THESIS_QUEUE", raising=False)
    cfg = config.resolve(_flags(), environ={})
    assert cfg.queues == ("thesis",)
    assert cfg.concurrency == 3 and cfg.autoscale is None and cfg.worker_class == "fork"
    assert cfg.grace_s == 60 and cfg.heartbeat_s == 2.0 and cfg.url is None
    assert cfg.supervisor_id.endswith(f"-{__import__('os').getpid()}")


def test_environment_is_read_and_flags_win():
    env = {
        "THESIS_WORKER_CONCURRENCY": "5",
        "THESIS_QUEUES": "a, b",
        "THESIS_WORKER_AUTOSCALE": "2:6",
        "THESIS_WORKER_CLASS": "simple",
        "THESIS_WORKER_GRACE": "0",
        "THESIS_WORKER_LOG_DIR": "/tmp/somewhere",
        "REDIS_URL": "redis://example:6379/1",
    }
    cfg = config.resolve(_flags(), environ=env)
    assert (cfg.concurrency, cfg.queues, cfg.autoscale, cfg.worker_class) == (5, ("a", "b"), (2, 6), "simple")
    assert cfg.grace_s == 0 and cfg.log_dir == Path("/tmp/somewhere") and cfg.url == "redis://example:6379/1"
    assert cfg.initial_desired == 2
    cfg = config.resolve(_flags("-n", "7", "--queue", "x", "--queue", "y", "--worker-class", "fork"), environ=env)
    assert (cfg.concurrency, cfg.queues, cfg.worker_class) == (7, ("x", "y"), "fork")


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (("-n", "0"), {}, "--concurrency: must be 1 to 64, got 0"),
        ((), {"THESIS_WORKER_CONCURRENCY": "many"}, "THESIS_WORKER_CONCURRENCY: must be a whole number"),
        (("--autoscale", "5:2"), {}, "--autoscale: need 1 <= MIN <= MAX"),
        (("--autoscale", "5"), {}, "--autoscale: must be MIN:MAX"),
        (("--grace", "-1"), {}, "--grace: must be a positive number"),
        (("--worker-class", "thread"), {}, "--worker-class: must be one of fork, simple"),
        (("--id", "a b"), {}, "--id: must be 1 to 64 letters"),
        (("--queue", "a:b"), {}, "--queue: queue name 'a:b'"),
        (("--log-level", "loud"), {}, "--log-level: must be DEBUG"),
        ((), {"THESIS_WORKER_BURST": "perhaps"}, "THESIS_WORKER_BURST: must be 1/0"),
    ],
)
def test_bad_values_name_the_option(argv, env, message):
    with pytest.raises(config.ConfigError) as err:
        config.resolve(_flags(*argv), environ=env)
    assert message in str(err.value)


def test_help_names_every_flag_and_variable():
    text = build_parser().format_help()
    for spec in config.OPTIONS:
        assert spec.flags[-1] in text and spec.env in text
    assert "resize N" in text and "ctl" in text


def test_help_recommends_keeping_the_password_off_the_command_line():
    text = " ".join(build_parser().format_help().split())
    assert "--url-file PATH" in text and "THESIS_WORKER_URL_FILE" in text
    assert "give its URL in REDIS_URL or in a file named by --url-file" in text
    assert "`ps`" in text


def _url_file(tmp_path: Path, mode: int = 0o600, url: str = "redis://:pw-in-file@127.0.0.1:6379/3") -> str:
    path = tmp_path / "redis.url"
    path.write_text(url + "\n")
    path.chmod(mode)
    return str(path)


def test_url_file_is_read_once_and_wins_over_redis_url(tmp_path):
    path = _url_file(tmp_path)
    cfg = config.resolve(_flags("--url-file", path), environ={"REDIS_URL": "redis://elsewhere:6379/0"})
    assert cfg.url == "redis://:pw-in-file@127.0.0.1:6379/3"
    Path(path).unlink()  # read at resolve time: the running supervisor no longer needs the file
    assert config.resolve(_flags(), environ={"THESIS_WORKER_URL_FILE": _url_file(tmp_path)}).url.endswith("/3")


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (("--url-file", "{file644}"), {}, "can be read or written by other users (mode 644)"),
        (("--url-file", "{file}", "--url", "redis://h/0"), {}, "give --url or --url-file, not both"),
        ((), {"THESIS_WORKER_URL_FILE": "{file}", "REDIS_URL": "redis://h/0"}, "set one"),
        (("--url-file", "{missing}"), {}, "cannot read the URL file"),
        (("--url", ""), {}, "--url: the Redis URL is empty"),
    ],
)
def test_url_file_mistakes_are_named(tmp_path, argv, env, message):
    names = {"{file}": _url_file(tmp_path), "{missing}": str(tmp_path / "missing")}
    (tmp_path / "other").mkdir()
    names["{file644}"] = _url_file(tmp_path / "other", 0o644)

    def fill(text: str) -> str:
        return names.get(text, text)

    with pytest.raises(config.ConfigError) as err:
        config.resolve(_flags(*map(fill, argv)), environ={k: fill(v) for k, v in env.items()})
    assert message in str(err.value) and "pw-in-file" not in str(err.value)

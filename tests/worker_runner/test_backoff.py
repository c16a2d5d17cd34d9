from __future__ import annotations

from worker_runner.backoff import RestartBackoff


def test_first_death_restarts_at_once_then_doubles_to_the_cap():
    backoff = RestartBackoff(base_s=0.5, cap_s=8.0, stable_s=10.0)
    now = 0.0
    waits = []
    for _ in range(8):
        resume = backoff.worker_died(lifetime_s=0.2, now=now)
        waits.append(round(resume - now, 6))
        now = resume + 0.2
    assert waits == [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_a_worker_that_lived_long_enough_starts_a_new_streak():
    backoff = RestartBackoff(base_s=0.5, cap_s=8.0, stable_s=10.0)
    for t in range(5):
        backoff.worker_died(0.1, float(t))
    assert backoff.worker_died(lifetime_s=60.0, now=100.0) == 100.0


def test_a_quiet_spell_starts_a_new_streak():
    backoff = RestartBackoff(base_s=0.5, cap_s=8.0)
    for t in range(5):
        backoff.worker_died(0.1, float(t))
    assert backoff.worker_died(0.1, now=1000.0) == 1000.0


def test_reset_lets_workers_start_now():
    backoff = RestartBackoff(base_s=0.5, cap_s=30.0)
    for t in range(10):
        backoff.worker_died(0.1, float(t))
    assert not backoff.may_start(10.0)
    backoff.reset(10.0)
    assert backoff.may_start(10.0) and backoff.streak == 0

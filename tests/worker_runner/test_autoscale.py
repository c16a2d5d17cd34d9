from __future__ import annotations

import pytest

from worker_runner.autoscale import AutoscalePolicy, AutoscaleState, decide, target_size


def test_target_counts_waiting_and_running_jobs_within_bounds():
    policy = AutoscalePolicy(2, 8)
    assert target_size(policy, waiting=0, running=0) == 2
    assert target_size(policy, waiting=3, running=2) == 5
    assert target_size(policy, waiting=100, running=3) == 8
    assert target_size(AutoscalePolicy(1, 8, jobs_per_worker=4), waiting=9, running=0) == 3


def test_grows_at_once():
    policy = AutoscalePolicy(1, 6, cooldown_s=30)
    size, state = decide(policy, current=1, waiting=10, running=1, now=100.0, state=AutoscaleState())
    assert size == 6 and state.last_change_at == 100.0


def test_shrinks_only_after_a_whole_cooldown_of_low_load():
    policy = AutoscalePolicy(1, 6, cooldown_s=30)
    state = AutoscaleState(last_change_at=100.0)
    size, state = decide(policy, 6, waiting=0, running=0, now=110.0, state=state)
    assert size == 6 and state.low_since == 110.0
    size, state = decide(policy, 6, waiting=0, running=0, now=139.0, state=state)
    assert size == 6
    size, state = decide(policy, 6, waiting=0, running=2, now=141.0, state=state)
    assert size == 2 and state.low_since is None and state.last_change_at == 141.0


def test_a_burst_during_the_cooldown_resets_it_so_it_does_not_flap():
    policy = AutoscalePolicy(1, 4, cooldown_s=10)
    state = AutoscaleState(last_change_at=0.0)
    sizes = []
    current = 4
    # the queue empties and refills every 4 s: the size must stay at 4
    for tick in range(0, 60):
        waiting = 8 if tick % 4 == 0 else 0
        current, state = decide(policy, current, waiting, running=0, now=float(tick), state=state)
        sizes.append(current)
    assert set(sizes) == {4}


def test_steady_state_keeps_size_and_clears_low_timer():
    policy = AutoscalePolicy(1, 4, cooldown_s=10)
    state = AutoscaleState(last_change_at=0.0, low_since=5.0)
    size, state = decide(policy, 2, waiting=1, running=1, now=20.0, state=state)
    assert size == 2 and state.low_since is None


def test_out_of_bounds_size_is_brought_in_at_once():
    policy = AutoscalePolicy(2, 4)
    assert decide(policy, 9, 0, 0, 0.0, AutoscaleState())[0] == 4
    assert decide(policy, 1, 0, 0, 0.0, AutoscaleState())[0] == 2


@pytest.mark.parametrize("bounds", [(0, 3), (4, 2)])
def test_bad_bounds_are_refused(bounds):
    with pytest.raises(ValueError, match="MIN <= MAX"):
        AutoscalePolicy(*bounds)

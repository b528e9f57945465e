"""The watch backoff: 0.8 s doubling to 30 s, jittered, forgotten after a quiet period."""

from __future__ import annotations

import pytest

from reconciler.watching.backoff import Backoff


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def backoff(clock: FakeClock, jitter_draw: float = 0.0) -> Backoff:
    return Backoff(clock=clock, random=lambda: jitter_draw)


def test_delays_double_from_0_8_seconds_up_to_30() -> None:
    clock = FakeClock()
    policy = backoff(clock)
    delays = []
    for _ in range(8):
        delays.append(policy.next_delay())
        clock.now += 1
    assert delays == pytest.approx([0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0])


def test_jitter_stretches_each_delay_but_never_past_the_ceiling() -> None:
    clock = FakeClock()
    policy = backoff(clock, jitter_draw=0.5)
    delays = [policy.next_delay() for _ in range(7)]
    assert delays == pytest.approx([1.2, 2.4, 4.8, 9.6, 19.2, 30.0, 30.0])


@pytest.mark.parametrize("draw", [0.0, 0.25, 0.999])
def test_every_delay_stays_within_0_8_and_30_seconds(draw: float) -> None:
    policy = backoff(FakeClock(), jitter_draw=draw)
    assert all(0.8 <= policy.next_delay() <= 30.0 for _ in range(20))


def test_a_quiet_period_resets_the_delay() -> None:
    clock = FakeClock()
    policy = backoff(clock)
    for _ in range(5):
        policy.next_delay()
    clock.now += 120.0
    assert policy.next_delay() == pytest.approx(0.8)


def test_failures_closer_together_than_the_quiet_period_keep_growing() -> None:
    clock = FakeClock()
    policy = backoff(clock)
    policy.next_delay()
    clock.now += 119.0
    assert policy.next_delay() == pytest.approx(1.6)

"""The client's token bucket: a burst goes at once, then requests wait their turn."""

from __future__ import annotations

import pytest

from reconciler.api.ratelimit import TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_a_burst_passes_without_waiting_then_requests_are_spaced_by_qps() -> None:
    time = FakeTime()
    bucket = TokenBucket(qps=20, burst=30, clock=time.clock, sleep=time.sleep)

    for _ in range(30):
        await bucket.acquire()
    assert time.slept == []

    for _ in range(10):
        await bucket.acquire()
    assert time.now == pytest.approx(10 / 20)


async def test_idle_time_refills_the_bucket_up_to_the_burst() -> None:
    time = FakeTime()
    bucket = TokenBucket(qps=10, burst=5, clock=time.clock, sleep=time.sleep)
    for _ in range(5):
        await bucket.acquire()

    time.now += 100.0
    for _ in range(5):
        await bucket.acquire()

    assert time.slept == []


@pytest.mark.parametrize(("qps", "burst"), [(0, 1), (-1, 5), (5, 0)])
def test_nonsense_limits_are_refused(qps: float, burst: int) -> None:
    with pytest.raises(ValueError, match="qps must be"):
        TokenBucket(qps=qps, burst=burst)

"""Retries: transient errors only, bounded, exponential with jitter, Retry-After honoured."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from reconciler.api.errors import ConflictError, InvalidError, TransientError
from reconciler.api.retrying import RetryPolicy


class Recorder:
    """Stands in for ``asyncio.sleep``: remembers the delays, waits for nothing."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def failing(
    errors: list[Exception], result: str = "ok"
) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    calls: list[int] = []

    async def operation() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result

    return calls, operation


def transient(retry_after: float | None = None, code: int = 503) -> TransientError:
    return TransientError(
        code=code, reason="ServiceUnavailable", message="x", retry_after=retry_after
    )


async def test_transient_errors_are_retried_until_success() -> None:
    sleep = Recorder()
    calls, operation = failing([transient(), transient()])
    result = await RetryPolicy(sleep=sleep, random=lambda: 0.0).call(operation)
    assert result == "ok"
    assert len(calls) == 3
    assert sleep.delays == [0.2, 0.4]


async def test_attempts_are_bounded_and_the_last_transient_error_surfaces() -> None:
    sleep = Recorder()
    errors: list[Exception] = [transient() for _ in range(10)]
    calls, operation = failing(errors)
    with pytest.raises(TransientError):
        await RetryPolicy(attempts=4, sleep=sleep).call(operation)
    assert len(calls) == 4
    assert len(sleep.delays) == 3


async def test_delays_grow_exponentially_with_jitter_and_a_ceiling() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=3.0, jitter=0.5, random=lambda: 1.0)
    delays = [policy.delay(retry_number=n, error=transient()) for n in range(1, 6)]
    assert delays == [0.75, 1.5, 3.0, 3.0, 3.0]
    unjittered = RetryPolicy(initial_delay=0.5, max_delay=3.0, random=lambda: 0.0)
    assert [unjittered.delay(retry_number=n, error=None) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


async def test_retry_after_is_honoured_and_capped() -> None:
    sleep = Recorder()
    calls, operation = failing([transient(retry_after=2.0, code=429), transient(retry_after=600.0)])
    policy = RetryPolicy(max_retry_after=30.0, sleep=sleep)
    assert await policy.call(operation) == "ok"
    assert len(calls) == 3
    assert sleep.delays == [2.0, 30.0]


@pytest.mark.parametrize(
    "error",
    [
        ConflictError(code=409, reason="Conflict", message="the object has been modified"),
        InvalidError(code=422, reason="Invalid", message="spec.hosts: Required value"),
    ],
)
async def test_non_transient_errors_are_never_retried(error: Exception) -> None:
    sleep = Recorder()
    calls, operation = failing([error])
    with pytest.raises(type(error)):
        await RetryPolicy(sleep=sleep).call(operation)
    assert len(calls) == 1
    assert sleep.delays == []

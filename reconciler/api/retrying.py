"""When a request is tried again: only here, and only for :class:`TransientError`.

Retrying at the edge and nowhere else keeps the rest of the controller honest:
the planner never loops on errors, the work queue backs off per key, and a 409
(which means "the world changed, plan again") is never retried as if it were
noise. What is retried is what the server or the network says is temporary:
429 (honouring ``Retry-After``, capped so a confused server cannot park us for
an hour), 5xx, lost connections and timeouts, with exponential backoff and
jitter, for a bounded number of attempts; after the last one the
:class:`TransientError` itself reaches the caller.

The sleep and the random source are injectable so tests run without waiting.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base

from reconciler.api.errors import TransientError

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter for transient failures."""

    attempts: int = 5
    """Total tries, the first included."""
    initial_delay: float = 0.2
    max_delay: float = 10.0
    jitter: float = 0.5
    """Each delay is stretched by up to this fraction, at random."""
    max_retry_after: float = 30.0
    """Upper bound on a server-requested ``Retry-After``."""
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)
    random: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, *, retry_number: int, error: BaseException | None) -> float:
        """Seconds to wait before retry ``retry_number`` (1 for the first retry)."""
        if isinstance(error, TransientError) and error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after)
        base = min(self.max_delay, self.initial_delay * 2.0 ** (retry_number - 1))
        return min(self.max_delay, base * (1 + self.jitter * self.random()))

    async def call(self, operation: Callable[[], Awaitable[R]]) -> R:
        """Run ``operation``, retrying it on :class:`TransientError` as this policy says."""
        retrying = AsyncRetrying(
            sleep=self.sleep,
            stop=stop_after_attempt(self.attempts),
            wait=_PolicyWait(self),
            retry=retry_if_exception_type(TransientError),
            reraise=True,
        )
        return await retrying(operation)


class _PolicyWait(wait_base):
    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        return self._policy.delay(retry_number=retry_state.attempt_number, error=error)

"""How long a watcher waits after a failure before it lists or watches again.

The policy client-go's reflector and kube-rs's watcher share: start at 0.8 s,
double on every failure up to 30 s, stretch each delay by a random fraction so
a fleet of controllers does not reconnect in lockstep after an API server
restart, and forget it all once things have been quiet for two minutes (so one
failure after a long healthy run waits 0.8 s again, not 30).

The clock and the random source are injectable: tests drive both and never
sleep.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable


class Backoff:
    """Exponential delays with jitter, reset after a quiet period."""

    def __init__(
        self,
        *,
        initial: float = 0.8,
        maximum: float = 30.0,
        factor: float = 2.0,
        jitter: float = 1.0,
        reset_after: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = random.random,
    ) -> None:
        self._initial = initial
        self._maximum = maximum
        self._factor = factor
        self._jitter = jitter
        self._reset_after = reset_after
        self._clock = clock
        self._random = random
        self._base = initial
        self._last_failure: float | None = None

    def next_delay(self) -> float:
        """Record a failure now and return how long to wait, within ``[initial, maximum]``."""
        now = self._clock()
        if self._last_failure is not None and now - self._last_failure >= self._reset_after:
            self._base = self._initial
        self._last_failure = now
        delay = min(self._maximum, self._base * (1 + self._jitter * self._random()))
        self._base = min(self._maximum, self._base * self._factor)
        return delay

"""Retry policy: exponential backoff with full jitter, bounded by a deadline.

Pure: the random source is passed in, nothing sleeps here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait before retry number `n` (1-based): uniform(0, min(cap, base * 2**(n-1))).

    Full jitter (AWS architecture blog, "Exponential Backoff And Jitter") spreads
    retries of many checks that failed together, instead of retrying in lockstep.
    """

    base: float = 0.1
    cap: float = 2.0

    def ceiling(self, retry: int) -> float:
        """The largest delay retry number `retry` may wait."""
        return min(self.cap, self.base * (2 ** max(0, retry - 1)))

    def delay(self, retry: int, rng: random.Random) -> float:
        """A jittered delay for retry number `retry`."""
        return rng.uniform(0.0, self.ceiling(retry))

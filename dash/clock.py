"""Time as a parameter: the real clock and a fake one for tests.

The engine asks its clock for monotonic time (`now`), wall time (`wall`) and to
`sleep`. `FakeClock` moves only when a test calls `advance()`, so tests of
schedules, retries and deadlines never sleep.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import sys
import time
from collections.abc import Awaitable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> float: ...
    def wall(self) -> float: ...
    async def sleep(self, seconds: float) -> None: ...
    async def within(self, awaitable: Awaitable[T], seconds: float) -> T:
        """Await `awaitable`, cancelling it and raising TimeoutError after `seconds`."""
        ...


class SystemClock:
    """The real clock: time.monotonic, time.time and asyncio.sleep."""

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def within(self, awaitable: Awaitable[T], seconds: float) -> T:
        if sys.version_info >= (3, 11):
            async with asyncio.timeout(max(0.0, seconds)):
                return await awaitable
        return await asyncio.wait_for(awaitable, max(0.0, seconds))


class FakeClock:
    """A clock that only moves when told to.

    `sleep()` parks the caller until `advance()` moves time past its deadline.
    `advance()` wakes sleepers in deadline order and lets the event loop run
    between wake-ups, so code that sleeps again in response is handled in the
    same call.
    """

    def __init__(self, start: float = 1000.0, wall_offset: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_offset
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._wall_offset + self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        await fut

    async def within(self, awaitable: Awaitable[T], seconds: float) -> T:
        task = asyncio.ensure_future(awaitable)
        timer = asyncio.ensure_future(self.sleep(seconds))
        try:
            await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            timer.cancel()
            raise
        timer.cancel()
        if task.done():
            return task.result()
        task.cancel()
        try:
            await task
        except BaseException:
            pass
        raise TimeoutError

    async def _settle(self) -> None:
        # Let woken tasks run until they park again.
        for _ in range(20):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, waking every sleeper due on the way."""
        target = self._now + seconds
        await self._settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            when, _, fut = heapq.heappop(self._sleepers)
            self._now = max(self._now, when)
            if not fut.done():
                fut.set_result(None)
            await self._settle()
        self._now = target
        await self._settle()

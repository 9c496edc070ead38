"""Named resource pools (``"resources": {"http": 4}``) and the order they are taken in."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

import attrs
import trio


@attrs.frozen
class PoolStatistics:
    """A snapshot of one pool: its capacity, tokens lent out, and requests waiting."""

    name: str
    capacity: int
    borrowed: int
    waiting: int


class ResourcePool:
    """``capacity`` interchangeable tokens; a node takes several at once, atomically.

    ``trio.CapacityLimiter`` lends one token per borrower; a node asking for 2
    of 4 would have to take them one by one, and two such nodes could each
    hold half of what the other needs. Here ``acquire(n)`` takes all ``n`` or
    waits, and waiters are served strictly first-come first-served, so a
    large request is never starved by small ones. Invariant:
    ``0 <= borrowed <= capacity``.
    """

    __slots__ = ("name", "capacity", "borrowed", "_waiters")

    def __init__(self, name: str, capacity: int) -> None:
        self.name = name
        self.capacity = capacity
        self.borrowed = 0
        self._waiters: deque[tuple[int, trio.Event]] = deque()

    async def acquire(self, amount: int) -> None:
        """Take ``amount`` tokens, waiting for them if needed (a checkpoint)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if not self._waiters and self.borrowed + amount <= self.capacity:
            self.borrowed += amount
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        entry = (amount, trio.Event())
        self._waiters.append(entry)
        try:
            await entry[1].wait()
        except BaseException:
            if entry[1].is_set():
                self.release(amount)
            else:
                self._waiters.remove(entry)
                self._grant()
            raise

    def release(self, amount: int) -> None:
        """Give back ``amount`` tokens and wake the waiters that now fit, in order."""
        self.borrowed -= amount
        self._grant()

    def _grant(self) -> None:
        waiters = self._waiters
        while waiters and self.borrowed + waiters[0][0] <= self.capacity:
            amount, event = waiters.popleft()
            self.borrowed += amount
            event.set()

    def statistics(self) -> PoolStatistics:
        """The pool's state now."""
        return PoolStatistics(self.name, self.capacity, self.borrowed, len(self._waiters))


Request = tuple[tuple[ResourcePool, int], ...]


def plan_request(pools: Mapping[str, ResourcePool], wanted: Mapping[str, int]) -> Request:
    """The pools and amounts of ``wanted``, in the one global order (by pool name) that prevents deadlock."""
    return tuple((pools[name], wanted[name]) for name in sorted(wanted))


async def acquire_all(request: Request) -> None:
    """Take every part of ``request`` in order; on cancellation give back what was taken."""
    taken: list[tuple[ResourcePool, int]] = []
    try:
        for pool, amount in request:
            await pool.acquire(amount)
            taken.append((pool, amount))
    except BaseException:
        release_all(taken)
        raise


def release_all(request: Sequence[tuple[ResourcePool, int]]) -> None:
    """Give back every part of ``request``."""
    for pool, amount in request:
        pool.release(amount)

"""Leases on what a gateway key runs as, so most requests skip the read.

A proxied request needs the key, its project and the provider bindings.
Reading them costs a DynamoDB round trip, which is most of what the
gateway adds to a call. A process may instead reuse a context it read for
at most `lease` seconds, counted from before that read began.

The guarantee that a revoked key fails on the next request survives
because every change to a key, project or binding goes through
`changed()`: it drops this process's leases at once (a read in flight when
the change happens is not kept, see `generation`) and then waits out the
lease before the change is reported done. Any lease another process holds
began before the change was committed, so it has ended by the time the
caller hears back, and every request after that reads the new state.
Changes are rare (revoking a key, editing a binding); requests are not.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_HELD = 10_000


@dataclass(frozen=True)
class _Lease(Generic[T]):
    value: T
    until: float


class LeaseTable(Generic[T]):
    """Values held for `lease()` seconds, all dropped by `changed()`."""

    def __init__(
        self,
        lease: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_held: int = MAX_HELD,
    ) -> None:
        self._lease = lease
        self._clock = clock
        self._sleep = sleep
        self._max_held = max_held
        self._held: dict[object, _Lease[T]] = {}
        self._renewing: set[object] = set()
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, name: object) -> T | None:
        """The held value for `name` if its lease has not ended."""
        held = self._held.get(name)
        if held is None or held.until <= self._clock():
            return None
        return held.value

    def due(self, name: object) -> bool:
        """Whether `name`'s lease is past its middle with nobody renewing it.

        The one caller told True renews it (reads again and `keep`s, or
        `drop`s it), so a value in steady use is renewed before it ends and
        its requests never wait for the read.
        """
        held = self._held.get(name)
        if held is None:
            return False
        with self._lock:
            if name in self._renewing:
                return False
            if self._clock() < held.until - self._lease() / 2:
                return False
            self._renewing.add(name)
            return True

    def drop(self, name: object) -> None:
        with self._lock:
            self._held.pop(name, None)
            self._renewing.discard(name)

    def begin(self) -> tuple[int, float]:
        """Call before reading: the generation and time the lease counts from."""
        return self._generation, self._clock()

    def keep(self, name: object, value: T, begun: tuple[int, float]) -> None:
        """Hold `value`, read after `begin()` returned `begun`.

        Nothing is kept if a change happened since `begun` (the value may be
        from before it) or leases are off.
        """
        generation, started = begun
        lease = self._lease()
        if lease <= 0:
            return
        with self._lock:
            self._renewing.discard(name)
            if generation != self._generation:
                return
            if len(self._held) >= self._max_held:
                self._drop_ended()
            if len(self._held) >= self._max_held:
                self._held.clear()
            self._held[name] = _Lease(value, started + lease)

    def changed(self) -> None:
        """After a committed change: drop every lease, then outwait others'."""
        self.forget()
        lease = self._lease()
        if lease > 0:
            self._sleep(lease)

    def forget(self) -> None:
        """Drop every lease without waiting (tests, and a process's reset)."""
        with self._lock:
            self._generation += 1
            self._held.clear()
            self._renewing.clear()

    def _drop_ended(self) -> None:
        now = self._clock()
        for name in [n for n, h in self._held.items() if h.until <= now]:
            del self._held[name]

"""The lease table behind the gateway's key check (issue 9)."""

from chalicelib.services.gateway.leases import LeaseTable


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def table(clock: Clock, lease: float = 1.0, max_held: int = 100) -> LeaseTable[str]:
    return LeaseTable(lambda: lease, clock=clock, sleep=clock.sleep, max_held=max_held)


def test_a_kept_value_is_held_until_the_lease_from_before_the_read_ends():
    clock = Clock()
    leases = table(clock)
    begun = leases.begin()
    clock.now += 0.4  # the read itself took 0.4 s
    leases.keep("k", "context", begun)

    clock.now += 0.5
    assert leases.get("k") == "context"
    clock.now += 0.1  # 1.0 s after the read began, not after it ended
    assert leases.get("k") is None


def test_a_change_drops_every_lease_and_waits_out_the_others():
    clock = Clock()
    leases = table(clock, lease=1.5)
    leases.keep("a", "one", leases.begin())
    leases.keep("b", "two", leases.begin())

    leases.changed()

    assert leases.get("a") is None and leases.get("b") is None
    assert clock.slept == [1.5]


def test_a_read_in_flight_during_a_change_is_not_kept():
    clock = Clock()
    leases = table(clock)
    begun = leases.begin()
    leases.changed()  # committed while the read was on its way back
    leases.keep("k", "stale", begun)
    assert leases.get("k") is None
    leases.keep("k", "fresh", leases.begin())
    assert leases.get("k") == "fresh"


def test_lease_zero_keeps_nothing_and_changes_do_not_wait():
    clock = Clock()
    leases = table(clock, lease=0)
    leases.keep("k", "context", leases.begin())
    assert leases.get("k") is None
    leases.changed()
    assert clock.slept == []


def test_forget_drops_leases_without_waiting():
    clock = Clock()
    leases = table(clock)
    leases.keep("k", "context", leases.begin())
    leases.forget()
    assert leases.get("k") is None
    assert clock.slept == []


def test_the_table_stays_bounded_dropping_ended_leases_first():
    clock = Clock()
    leases = table(clock, max_held=3)
    leases.keep("old", "x", leases.begin())
    clock.now += 2  # "old" has ended
    for name in ("a", "b"):
        leases.keep(name, name, leases.begin())
    leases.keep("c", "c", leases.begin())  # full: the ended one goes
    assert [leases.get(n) for n in ("a", "b", "c")] == ["a", "b", "c"]
    leases.keep("d", "d", leases.begin())  # full of live leases: start over
    assert leases.get("d") == "d"
    assert leases.get("a") is None


def test_a_lease_past_its_middle_is_due_once_until_renewed():
    clock = Clock()
    leases = table(clock, lease=2.0)
    leases.keep("k", "old", leases.begin())
    clock.now += 0.9
    assert not leases.due("k")
    clock.now += 0.2  # past the middle
    assert leases.due("k")
    assert not leases.due("k")  # one renewer at a time
    assert leases.get("k") == "old"  # still served meanwhile
    leases.keep("k", "new", leases.begin())
    clock.now += 0.95  # the first lease has ended, the renewed one has not
    assert leases.get("k") == "new"
    assert not leases.due("k")  # nor is it past its own middle yet
    clock.now += 0.1
    assert leases.due("k")


def test_a_dropped_lease_is_gone_and_no_longer_due():
    clock = Clock()
    leases = table(clock)
    leases.keep("k", "x", leases.begin())
    clock.now += 0.6
    assert leases.due("k")
    leases.drop("k")
    assert leases.get("k") is None
    assert not leases.due("k")
    leases.keep("k", "y", leases.begin())
    clock.now += 0.6
    assert leases.due("k")

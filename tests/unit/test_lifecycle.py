"""The deploy state machine's transition table and the Studio vocabulary."""

import itertools

import pytest

from chalicelib.services.lifecycle import (
    IN_PROGRESS,
    STUDIO_STATUS,
    TERMINAL,
    TRANSITIONS,
    Status,
    public_status,
)

# What the Studio types allow; the CLI stops polling at running/failed/stopped.
STUDIO_VOCABULARY = {"queued", "starting", "running", "stopped", "failed", "unknown"}
STUDIO_TERMINAL = {"running", "failed", "stopped"}
SERVER_TERMINAL = {"running", "failed", "crashed", "cancelled", "stopped"}


def test_every_status_has_a_row_in_the_table() -> None:
    assert set(TRANSITIONS) == set(Status)
    for targets in TRANSITIONS.values():
        assert targets <= set(Status)


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_terminal_states_have_no_exits(status: Status) -> None:
    assert TRANSITIONS[status] == frozenset()


def test_only_terminal_states_have_no_exits() -> None:
    assert {s for s, targets in TRANSITIONS.items() if not targets} == TERMINAL


def test_terminal_and_in_progress_split_the_statuses_around_running() -> None:
    assert TERMINAL.isdisjoint(IN_PROGRESS)
    assert set(Status) - TERMINAL - IN_PROGRESS == {Status.RUNNING}


def test_nothing_returns_to_queued() -> None:
    assert all(Status.QUEUED not in targets for targets in TRANSITIONS.values())


@pytest.mark.parametrize("status", sorted(IN_PROGRESS))
def test_every_in_progress_state_can_be_cancelled_or_fail(status: Status) -> None:
    assert {Status.CANCELLED, Status.FAILED} <= TRANSITIONS[status]


def test_the_happy_path_is_queued_building_starting_running() -> None:
    path = [Status.QUEUED, Status.BUILDING, Status.STARTING, Status.RUNNING]
    for current, following in itertools.pairwise(path):
        assert following in TRANSITIONS[current]
    assert {s for s, targets in TRANSITIONS.items() if Status.RUNNING in targets} == {
        Status.STARTING
    }


def test_a_running_deploy_can_only_stop_or_crash() -> None:
    assert TRANSITIONS[Status.RUNNING] == {Status.STOPPED, Status.CRASHED}


def test_studio_status_maps_every_status_into_the_studio_vocabulary() -> None:
    assert set(STUDIO_STATUS) == set(Status)
    assert set(STUDIO_STATUS.values()) <= STUDIO_VOCABULARY


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_terminal_states_are_terminal_for_studio_polling(status: Status) -> None:
    assert STUDIO_STATUS[status] in STUDIO_TERMINAL - {"running"}


@pytest.mark.parametrize("status", sorted(IN_PROGRESS))
def test_in_progress_states_keep_studio_polling(status: Status) -> None:
    assert STUDIO_STATUS[status] not in STUDIO_TERMINAL


def test_cancelled_reads_stopped_and_crashed_reads_failed_in_studio() -> None:
    assert public_status("studio", "cancelled") == "stopped"
    assert public_status("studio", "crashed") == "failed"
    assert public_status("studio", "building") == "starting"


@pytest.mark.parametrize("status", sorted(Status))
def test_server_status_is_the_internal_status(status: Status) -> None:
    assert public_status("server", status.value) == status.value


def test_every_server_terminal_status_ends_server_polling() -> None:
    assert {s.value for s in TERMINAL} <= SERVER_TERMINAL


def test_an_unknown_status_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError):
        public_status("studio", "sleeping")

"""The process rules: steps, time limits, ticket transitions, derived case status."""

import pytest

from jointdesk.policy.process import (
    ActionNotAllowed,
    allowed_actions,
    case_status,
    next_status,
    steps_for,
    time_limits,
)

TWO = ("accept", "connect")
ONE = ("connect",)


def test_two_steps_by_default_one_from_the_approval_system():
    assert steps_for("window", None) == TWO
    assert steps_for("online", None) == TWO
    assert steps_for("window", "2026-410105-47-01-001234") == ONE
    assert steps_for("approval_system", "X") == ONE


def test_time_limits():
    assert (time_limits(False).per_step_days, time_limits(False).total_days) == (0.5, 1.0)
    assert (time_limits(True).per_step_days, time_limits(True).total_days) == (1.0, 2.0)


@pytest.mark.parametrize(
    "status,action,steps,expected",
    [
        ("queued", "accept", TWO, "accepted"),
        ("accepted", "connect", TWO, "connected"),
        ("queued", "connect", ONE, "connected"),
        ("queued", "return", TWO, "returned"),
        ("accepted", "return", TWO, "returned"),
        ("accepted", "suspend", TWO, "suspended"),
        ("queued", "assign", TWO, "queued"),
    ],
)
def test_allowed_transitions(status, action, steps, expected):
    assert next_status(status, action, steps, None) == expected


@pytest.mark.parametrize(
    "status,action,steps",
    [
        ("dispatching", "accept", TWO),
        ("queued", "connect", TWO),  # two steps: accept first
        ("queued", "accept", ONE),  # one step: nothing to accept
        ("connected", "return", TWO),
        ("returned", "accept", TWO),
        ("suspended", "connect", TWO),
        ("accepted", "resume", TWO),
        ("connected", "assign", TWO),
        ("accepted", "accept", TWO),
    ],
)
def test_refused_transitions(status, action, steps):
    with pytest.raises(ActionNotAllowed):
        next_status(status, action, steps, None)


def test_resume_returns_to_where_it_was_suspended():
    assert next_status("suspended", "resume", TWO, "accepted") == "accepted"
    assert next_status("suspended", "resume", TWO, "queued") == "queued"


def test_allowed_actions_lists_exactly_what_next_status_accepts():
    assert allowed_actions("queued", TWO) == [
        "accept",
        "return",
        "assign",
        "permit_file",
        "permit_grant",
        "material_received",
        "material_waive",
        "contact",
    ]
    assert allowed_actions("connected", TWO) == []


@pytest.mark.parametrize(
    "statuses,expected",
    [
        (["dispatching", "queued"], "received"),
        (["queued", "accepted"], "in_progress"),
        (["queued", "suspended"], "in_progress"),
        (["connected", "accepted"], "partially_connected"),
        (["connected", "connected"], "completed"),
        (["connected", "returned"], "completed"),
        (["returned", "returned"], "returned"),
        (["returned", "queued"], "received"),
    ],
)
def test_case_status(statuses, expected):
    assert case_status(statuses) == expected

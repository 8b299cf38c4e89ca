"""The re-engineered process: services, channels, steps, time limits, ticket states.

Every rule here comes from the policy (seed, section 二(二)); see DOMAIN.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SERVICES = ("water", "electricity", "gas", "heat")
CHANNELS = ("window", "online", "app", "approval_system")
APPLICANT_KINDS = ("person", "enterprise")
MATERIAL_KINDS = ("application_form",)

# ticket states
DISPATCHING = "dispatching"  # stored, not yet held by the provider's channel
QUEUED = "queued"  # in the provider's queue, waiting to be accepted
ACCEPTED = "accepted"  # 受理: being worked
SUSPENDED = "suspended"  # clock stopped: waiting for the applicant or external works
CONNECTED = "connected"  # 验收接通: done
RETURNED = "returned"  # 退回: refused with a reason
TICKET_STATUSES = (DISPATCHING, QUEUED, ACCEPTED, SUSPENDED, CONNECTED, RETURNED)
TERMINAL = frozenset({CONNECTED, RETURNED})
OPEN = frozenset({QUEUED, ACCEPTED, SUSPENDED})

ACTIONS = ("accept", "connect", "return", "suspend", "resume", "assign")
ACTIONS_NEEDING_REASON = frozenset({"return", "suspend", "resume"})

# case states, derived from the tickets
CASE_RECEIVED = "received"  # 已受理
CASE_IN_PROGRESS = "in_progress"  # 办理中
CASE_PARTIALLY_CONNECTED = "partially_connected"  # 部分接通
CASE_COMPLETED = "completed"  # 已办结
CASE_RETURNED = "returned"  # 已退回
CASE_STATUSES = (
    CASE_RECEIVED,
    CASE_IN_PROGRESS,
    CASE_PARTIALLY_CONNECTED,
    CASE_COMPLETED,
    CASE_RETURNED,
)

STEP_ACCEPT = "accept"  # 受理申请
STEP_CONNECT = "connect"  # 验收接通


class ActionNotAllowed(Exception):
    """The ticket's state does not allow this action."""

    def __init__(self, action: str, status: str):
        super().__init__(f"action {action!r} is not allowed in state {status!r}")
        self.action = action
        self.status = status


def steps_for(channel: str, approval_system_code: str | None) -> tuple[str, ...]:
    """Two steps by default; one (验收接通) when the project is in the approval system."""
    if channel == "approval_system" or approval_system_code:
        return (STEP_CONNECT,)
    return (STEP_ACCEPT, STEP_CONNECT)


@dataclass(frozen=True)
class TimeLimits:
    per_step_days: float
    total_days: float


def time_limits(external_works: bool) -> TimeLimits:
    """≤0.5 working day a step and ≤1 in all; with external line works ≤1 and ≤2."""
    return TimeLimits(1.0, 2.0) if external_works else TimeLimits(0.5, 1.0)


def next_status(status: str, action: str, steps: Iterable[str], suspended_from: str | None) -> str:
    """The state a ticket moves to, or ActionNotAllowed."""
    steps = tuple(steps)
    if action == "accept" and status == QUEUED and STEP_ACCEPT in steps:
        return ACCEPTED
    if action == "connect" and (
        status == ACCEPTED or (status == QUEUED and steps == (STEP_CONNECT,))
    ):
        return CONNECTED
    if action in ("return", "suspend") and status in (QUEUED, ACCEPTED):
        return RETURNED if action == "return" else SUSPENDED
    if action == "resume" and status == SUSPENDED:
        return suspended_from or QUEUED
    if action == "assign" and status in OPEN:
        return status
    raise ActionNotAllowed(action, status)


def allowed_actions(status: str, steps: Iterable[str]) -> list[str]:
    allowed = []
    for action in ACTIONS:
        try:
            next_status(status, action, steps, None)
        except ActionNotAllowed:
            continue
        allowed.append(action)
    return allowed


def case_status(ticket_statuses: Iterable[str]) -> str:
    """One status for the case, derived from all of its tickets."""
    statuses = list(ticket_statuses)
    if not statuses:
        return CASE_RECEIVED
    if all(s == RETURNED for s in statuses):
        return CASE_RETURNED
    if all(s in TERMINAL for s in statuses):
        return CASE_COMPLETED
    if any(s == CONNECTED for s in statuses):
        return CASE_PARTIALLY_CONNECTED
    if any(s in (ACCEPTED, SUSPENDED) for s in statuses):
        return CASE_IN_PROGRESS
    return CASE_RECEIVED

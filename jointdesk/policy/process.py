"""The re-engineered process: services, channels, steps, time limits, ticket states.

Every rule here comes from the policy (seed, section 二(二)); see DOMAIN.md.
"""

from __future__ import annotations

import functools
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

ACTIONS = (
    "accept",
    "connect",
    "return",
    "suspend",
    "resume",
    "assign",
    "permit_file",
    "permit_grant",
    "material_received",
    "material_waive",
    "contact",
)
# the words a provider's own system may use for an action in its events (inbound), besides the
# action names: what its system reports has happened (a survey is a contact with the applicant)
ACTION_ALIASES = {
    "accepted": "accept",
    "surveyed": "contact",
    "contacted": "contact",
    "assigned": "assign",
    "permit_filed": "permit_file",
    "permit_granted": "permit_grant",
    "connected": "connect",
    "returned": "return",
    "suspended": "suspend",
    "resumed": "resume",
}
ACTIONS_NEEDING_REASON = frozenset({"return", "material_waive"})  # suspend: a reason code
ACTIONS_NEEDING_NOTE = frozenset({"contact"})
# actions that record progress on an open ticket without moving its state
SIDE_ACTIONS = frozenset(
    {"assign", "permit_file", "permit_grant", "material_received", "material_waive", "contact"}
)

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
    if action == "return" and status in (QUEUED, ACCEPTED):
        return RETURNED
    if action == "suspend" and may_suspend(status, steps):
        return SUSPENDED
    if action == "resume" and status == SUSPENDED:
        return suspended_from or QUEUED
    if action in SIDE_ACTIONS and status in OPEN:
        return status
    raise ActionNotAllowed(action, status)


# why a ticket may not be connected yet (checked in this order)
NO_REPRESENTATIVE = "no_representative"  # 安排客户代表全程负责
NO_FIRST_CONTACT = "no_first_contact"  # 企业主动对接: the provider contacts the applicant first
MATERIALS_OUTSTANDING = "materials_outstanding"  # 容缺受理，在现场踏勘时提交


def proactive_contact(steps: Iterable[str]) -> bool:
    """A project in the approval system has no 受理申请 step: "无需用户单独提出申请，由…企业主动
    对接服务，报装环节简化为验收接通1个". The provider's first contact takes the step's place."""
    return STEP_ACCEPT not in tuple(steps)


def connect_blocker(
    *,
    steps: Iterable[str],
    has_representative: bool,
    first_contact_made: bool,
    materials_outstanding: Iterable[str],
) -> str | None:
    """What still stops 验收接通, or None: every ticket has its customer representative; a
    one-step ticket has had the provider's first contact; a material accepted missing (容缺) has
    been handed over or waived by a named person with a reason."""
    if not has_representative:
        return NO_REPRESENTATIVE
    if proactive_contact(steps) and not first_contact_made:
        return NO_FIRST_CONTACT
    if any(True for _ in materials_outstanding):
        return MATERIALS_OUTSTANDING
    return None


def may_suspend(status: str, steps: Iterable[str]) -> bool:
    """The clock stops only inside a step the provider has taken on: after 受理 (accepted), or
    in the one 验收接通 step of a pushed project, which starts when it is queued. Before
    acceptance there is nothing to wait for: the provider accepts (容缺受理) or returns."""
    steps = tuple(steps)
    return status == ACCEPTED or (status == QUEUED and steps == (STEP_CONNECT,))


def allowed_actions(status: str, steps: Iterable[str]) -> list[str]:
    return list(_allowed_actions(status, tuple(steps)))


def offered_actions(status: str, steps: Iterable[str], permits: dict[str, str]) -> list[str]:
    """The actions a ticket's page offers: those its state allows, but not 验收接通 while a
    permit is pending (``permits``: kind → status), which would only be refused."""
    pending = permits_pending(permits)
    return [a for a in allowed_actions(status, steps) if not (a == "connect" and pending)]


@functools.cache
def _allowed_actions(status: str, steps: tuple[str, ...]) -> tuple[str, ...]:
    """The actions ``next_status`` admits (a handful of combinations, worked out once)."""
    allowed = []
    for action in ACTIONS:
        try:
            next_status(status, action, steps, None)
        except ActionNotAllowed:
            continue
        allowed.append(action)
    return tuple(allowed)


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


# --- materials and trips (减材料, 零跑腿) -------------------------------------------------------


def materials_required(channel: str, approval_system_code: str | None = None) -> tuple[str, ...]:
    """The application form at the window; nothing online or for projects in the approval
    system, whose data is shared rather than handed over again."""
    if channel == "window" and not approval_system_code:
        return ("application_form",)
    return ()


def zero_materials(channel: str, approval_system_code: str | None = None) -> bool:
    """零材料: nothing is asked for (纳入工程建设项目审批管理系统和线上申请的，报装材料减少到零).
    The same function as ``materials_required``, so the count and the flag cannot disagree."""
    return not materials_required(channel, approval_system_code)


def applicant_trips(channel: str) -> int:
    """One trip to the window; none when applying online or pushed by the approval system."""
    return 1 if channel == "window" else 0


# --- permits for external works (压减审批时限) -------------------------------------------------

PERMIT_PLANNING = "planning"  # 规划许可
PERMIT_ROAD = "road_excavation"  # 道路挖掘（占用）
PERMIT_TREES = "tree_felling"  # 砍伐、迁移树木
PERMIT_GREEN = "green_space"  # 占用绿地
PERMIT_KINDS = (PERMIT_PLANNING, PERMIT_ROAD, PERMIT_TREES, PERMIT_GREEN)
COMMITMENT_FILING = "commitment_filing"  # 告知承诺备案, instead of permits ("零审批")
PLANNING_EXEMPT_MAX_M = 150  # "150米以下" includes 150 (Civil Code art. 1259)
PERMIT_LIMIT_DAYS = 3.0  # parallel approval, finished within 3 working days

PERMIT_REQUIRED = "required"
PERMIT_EXEMPT = "exempt"
PERMIT_FILED = "filed"
PERMIT_GRANTED = "granted"
PERMIT_STATUSES = (PERMIT_REQUIRED, PERMIT_EXEMPT, PERMIT_FILED, PERMIT_GRANTED)


@dataclass(frozen=True)
class ProjectFacts:
    channel: str = "window"
    approval_system_code: str | None = None
    external_works: bool = False
    low_risk: bool = False
    pipeline_length_m: float | None = None
    supporting_fee_paid: bool = False
    excavates_road: bool = False
    moves_trees: bool = False
    occupies_green_space: bool = False


def within_planning_exemption(length_m: float | None) -> bool:
    return length_m is not None and length_m <= PLANNING_EXEMPT_MAX_M


# "将水气报装工程涉及规划、道路挖掘（占用）、砍伐树木、占用绿地等行政审批的，由供水、燃气经营企业
# 负责申办，办理部门并联审批、容缺受理，3个工作日内办结": the rule names water and gas works only
PERMIT_SERVICES = frozenset({"water", "gas"})


def permit_plan(facts: ProjectFacts, service: str) -> dict[str, str]:
    """Which administrative permits the external works of one service's ticket need, filed by
    the provider and approved in parallel within 3 working days: kind → required/exempt.

    Also ``commitment_filing: filed`` where a low-risk simple project of 150 m or less replaces
    all permits with a notification-and-commitment filing. No external works: no permits.
    Electricity and heat: none planned, since the policy's permit rule names 水气报装工程 and
    供水、燃气经营企业 only; it makes no provider file their permits and sets them no limit.
    """
    if not facts.external_works or service not in PERMIT_SERVICES:
        return {}
    short = within_planning_exemption(facts.pipeline_length_m)
    if facts.low_risk and short:
        plan = {kind: PERMIT_EXEMPT for kind in PERMIT_KINDS}
        plan[COMMITMENT_FILING] = PERMIT_FILED
        return plan
    plan = {PERMIT_PLANNING: PERMIT_EXEMPT if short else PERMIT_REQUIRED}
    for kind, involved in (
        (PERMIT_ROAD, facts.excavates_road),
        (PERMIT_TREES, facts.moves_trees),
        (PERMIT_GREEN, facts.occupies_green_space),
    ):
        if involved:
            plan[kind] = PERMIT_REQUIRED
    return plan


def permits_pending(permits: dict[str, str]) -> list[str]:
    """Permits that still stop the connection: required or filed but not granted. A
    notification-and-commitment filing is complete once filed; exempt ones need nothing."""
    return [
        kind
        for kind, status in permits.items()
        if kind != COMMITMENT_FILING and status in (PERMIT_REQUIRED, PERMIT_FILED)
    ]


def next_permit_status(status: str, action: str, kind: str = "") -> str:
    """required → filed → granted; an exempt permit or a commitment filing takes no action."""
    if kind == COMMITMENT_FILING:
        raise ActionNotAllowed(action, status)
    if action == "permit_file" and status == PERMIT_REQUIRED:
        return PERMIT_FILED
    if action == "permit_grant" and status == PERMIT_FILED:
        return PERMIT_GRANTED
    raise ActionNotAllowed(action, status)


# --- cost (降低获得成本) ----------------------------------------------------------------------

FEE_ZERO_SUPPORTING_PAID = "supporting_fee_paid"  # 已缴专项配套费的新建项目 → 零收费
FEE_PUBLISHED_PRICE = "published_price"  # 按专营单位公示的价格和收费依据
INVESTMENT_ZERO_LOW_RISK = "low_risk_zero_investment"  # 低风险项目建筑边界外零投资
INVESTMENT_PUBLISHED_PRICE = "published_price"
INVESTMENT_NO_EXTERNAL_WORKS = "no_external_works"  # nothing is built outside the boundary

# published prices a provider may enter: bounds that catch typing errors, not policy limits
MAX_CONNECTION_FEE = 10_000_000.0  # yuan for one connection
MAX_PRICE_PER_METRE = 100_000.0  # yuan per metre of line outside the building boundary
MAX_BASIS_CHARS = 500


@dataclass(frozen=True)
class PublishedPrices:
    """What a provider publishes (公示收费标准、收费依据): a price per connection, a price per
    metre of external line works outside the building boundary, and the charging basis.
    None: not published here."""

    connection_fee: float | None = None
    price_per_metre: float | None = None
    basis: str | None = None


NO_PRICES = PublishedPrices()


@dataclass(frozen=True)
class Fee:
    amount: float | None  # None: at the provider's published price, not entered here
    basis: str
    charging_basis: str | None = None  # the provider's published 收费依据, when priced by it
    price_per_metre: float | None = None  # the unit price a works amount was computed from


def connection_fee(facts: ProjectFacts, prices: PublishedPrices = NO_PRICES) -> Fee:
    """零收费 where the special supporting fee was paid; else the provider's published price."""
    if facts.supporting_fee_paid:
        return Fee(0.0, FEE_ZERO_SUPPORTING_PAID)
    return Fee(prices.connection_fee, FEE_PUBLISHED_PRICE, prices.basis)


ZERO_INVESTMENT_SERVICES = frozenset({"water", "gas"})  # "建筑边界外用水用气零投资"


def outside_boundary_investment(
    facts: ProjectFacts, service: str, prices: PublishedPrices = NO_PRICES
) -> Fee:
    """Water and gas works outside the building boundary of a low-risk simple project are
    built by the provider at no cost to the applicant; without external line works nothing is
    built outside the boundary; otherwise the published price per metre times the length."""
    if facts.low_risk and service in ZERO_INVESTMENT_SERVICES:
        return Fee(0.0, INVESTMENT_ZERO_LOW_RISK)
    if not facts.external_works:
        return Fee(0.0, INVESTMENT_NO_EXTERNAL_WORKS)
    per_metre = prices.price_per_metre
    if per_metre is None or facts.pipeline_length_m is None:
        return Fee(None, INVESTMENT_PUBLISHED_PRICE, prices.basis, per_metre)
    amount = round(per_metre * facts.pipeline_length_m, 2)
    return Fee(amount, INVESTMENT_PUBLISHED_PRICE, prices.basis, per_metre)


# --- 四零服务 -------------------------------------------------------------------------------


def zero_approvals(facts: ProjectFacts, service: str) -> bool:
    """No approvals: no external works, or water/gas works whose plan requires no permit.
    Electricity and heat works are outside the policy's permit rule, so nothing says they
    need none (零审批 is promised for 供水、供气、排水 only)."""
    if not facts.external_works:
        return True
    if service not in PERMIT_SERVICES:
        return False
    return not any(s == PERMIT_REQUIRED for s in permit_plan(facts, service).values())


@dataclass(frozen=True)
class FourZero:
    zero_materials: bool
    zero_trips: bool
    zero_approvals: bool
    zero_investment: bool

    @property
    def all(self) -> bool:
        return (
            self.zero_materials and self.zero_trips and self.zero_approvals and self.zero_investment
        )


def four_zero(facts: ProjectFacts, services: Iterable[str]) -> FourZero:
    """四零服务 as the policy defines it, for small water and gas connections of low-risk
    projects: zero materials (none asked for: ``zero_materials``), zero trips, zero approvals
    (150 m or less), zero investment outside the building boundary."""
    services = list(services)
    return FourZero(
        zero_materials=zero_materials(facts.channel, facts.approval_system_code),
        zero_trips=applicant_trips(facts.channel) == 0,
        zero_approvals=all(zero_approvals(facts, s) for s in services),
        zero_investment=bool(services)
        and all(
            outside_boundary_investment(facts, s).basis == INVESTMENT_ZERO_LOW_RISK
            for s in services
        ),
    )


# --- the time-limit traffic light ------------------------------------------------------------

LIGHT_ON_TIME = "on_time"
LIGHT_AT_RISK = "at_risk"
LIGHT_OVERDUE = "overdue"
LIGHTS = (LIGHT_ON_TIME, LIGHT_AT_RISK, LIGHT_OVERDUE)
AT_RISK_SHARE = 0.75


def traffic_light(limit_seconds: int, remaining_seconds: int, past_due: bool) -> str:
    """Overdue past the due time; at risk once 75% of the limit's working time is used."""
    if past_due:
        return LIGHT_OVERDUE
    used = limit_seconds - remaining_seconds
    if limit_seconds > 0 and used >= AT_RISK_SHARE * limit_seconds:
        return LIGHT_AT_RISK
    return LIGHT_ON_TIME


def worst_light(lights: Iterable[str]) -> str:
    return max(lights, key=LIGHTS.index, default=LIGHT_ON_TIME)


# --- suspensions (the clock stops) ------------------------------------------------------------

SUSPEND_APPLICANT = "applicant_waiting"  # waiting for the applicant (materials, access, a date)
SUSPEND_CONSTRUCTION = "applicant_construction"  # the applicant's own works are not ready
SUSPEND_FORCE_MAJEURE = "force_majeure"  # weather or force majeure
SUSPEND_OTHER = "other"  # anything else, said in words
SUSPENSION_REASONS = (SUSPEND_APPLICANT, SUSPEND_CONSTRUCTION, SUSPEND_FORCE_MAJEURE, SUSPEND_OTHER)
# the pauses the applicant ends (by giving what is asked, by finishing their own works): the
# provider's words are shown to the applicant for these, kept inside for the others
APPLICANT_ACTS = (SUSPEND_APPLICANT, SUSPEND_CONSTRUCTION)


def suspension_text_required(code: str) -> bool:
    """Only "other" needs words; the listed reasons speak for themselves."""
    return code == SUSPEND_OTHER


def finished_light(limit_seconds: int, used_seconds: int) -> str:
    """A finished step or ticket: within its limit or not; nothing is at risk any more."""
    return LIGHT_OVERDUE if used_seconds > limit_seconds else LIGHT_ON_TIME

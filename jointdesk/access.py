"""Who may see and do what. Every view and endpoint asks here; nothing else decides."""

from __future__ import annotations

from dataclasses import dataclass

from jointdesk.models import Case, Provider, Ticket, User

CASE_READERS = ("clerk", "supervisor", "admin")
# integration clients are API-only: they never sign in to the web pages
WEB_ROLES = ("clerk", "staff", "supervisor", "admin")


def can_use_web(user: User) -> bool:
    """Who may sign in to the web pages (everyone but API-only integration clients)."""
    return user.role in WEB_ROLES


def can_view_case(user: User, case: Case) -> bool:
    """Clerks, supervisors and admins see every case; staff only cases their provider is on."""
    # the case's tickets are loaded with it (models or cases.read rows alike)
    return can_view_case_of(user, (t.provider_id for t in case.tickets))


def can_view_case_of(user: User, provider_ids) -> bool:
    """``can_view_case`` for a case known only by its tickets' providers."""
    if user.role in CASE_READERS:
        return True
    if user.role == "staff" and user.provider_id is not None:
        return user.provider_id in set(provider_ids)
    return False


# A provider's own system acts on its tickets as a named user of that provider (see
# integrations/inbound.py): role staff, never active (no sign-in, no token, never chosen as a
# representative), with this in place of a password hash, which no password ever matches.
SYSTEM_ACTOR_HASH = "!provider-system"


def is_system_actor(user: User) -> bool:
    """The user a provider's own system acts as (never a person)."""
    return user.password_hash == SYSTEM_ACTOR_HASH and not user.active


# who may query the projects the approval system knows (开放查询权限): its integration client,
# and the window's supervisors and administrators
PROJECT_READERS = ("integration", "supervisor", "admin")


def can_query_projects(user: User) -> bool:
    return user.role in PROJECT_READERS


def can_act_on_ticket(user: User, ticket: Ticket) -> bool:
    """Only staff of the ticket's own provider work it."""
    return user.role == "staff" and user.provider_id == ticket.provider_id


def can_read_queue(user: User, provider_id: int) -> bool:
    return user.role in ("supervisor", "admin") or (
        user.role == "staff" and user.provider_id == provider_id
    )


# who may see every suspension of every provider (read-only): the supervisors of the window
SUSPENSION_REVIEWERS = ("supervisor", "admin")


def can_review_suspensions(user: User) -> bool:
    return user.role in SUSPENSION_REVIEWERS


@dataclass(frozen=True)
class Viewer:
    """Who reads, as the decisions here need it: a user's identity and role, copied, so that
    a view built after a commit (which expires model instances) costs no reload."""

    id: int
    username: str
    role: str
    provider_id: int | None

    @classmethod
    def of(cls, user: User) -> Viewer:
        return cls(user.id, user.username, user.role, user.provider_id)


def sees_whole_phone(user: User) -> bool:
    """The people who call the applicant: the clerk and the providers' staff."""
    return user.role in ("clerk", "staff")


def sees_ticket_detail(user: User, ticket: Ticket) -> bool:
    """Reasons, representatives and history of a ticket: everyone on the case except staff of
    another provider, who see its progress only."""
    return user.role != "staff" or user.provider_id == ticket.provider_id


# How much of a ticket a reader sees (``ticket_view``): everything; what the applicant sees
# (progress, who represents the provider, why it was returned); or progress alone.
FULL, APPLICANT, PROGRESS = "full", "applicant", "progress"


def ticket_view(user: User | None, ticket: Ticket) -> str:
    """The one decision on a ticket's detail: ``None`` is the applicant on the status page;
    staff of another provider on a shared case see its progress only (no representative, no
    reasons, no history details), on the web and in the API alike."""
    if user is None:
        return APPLICANT
    return FULL if sees_ticket_detail(user, ticket) else PROGRESS


def can_edit_prices(user: User, provider: Provider) -> bool:
    """A provider's published prices: administrators, and that provider's own staff, whose
    prices they are to publish (公示收费标准、收费依据)."""
    if user.role == "admin":
        return True
    return user.role == "staff" and user.provider_id is not None and user.provider_id == provider.id


# applicants' messages: what was sent is read by the administrators and by the supervisors
# (whether applicants were told is part of the service they supervise); only administrators
# change the wording of the templates
MESSAGE_READERS = ("supervisor", "admin")
TEMPLATE_EDITORS = ("admin",)

# who sees the dead letters of signed HTTP deliveries and may queue them again
DELIVERY_OPERATORS = ("supervisor", "admin")


def can_redrive_deliveries(user: User) -> bool:
    return user.role in DELIVERY_OPERATORS


# --- information disclosure (信息公开): a provider's catalog and outage notices --------------
# Its own staff edit and publish them; supervisors and administrators read every provider's
# (with the history), and change nothing. The public sees published items only, without a
# sign-in.
DISCLOSURE_READERS = ("supervisor", "admin")


def can_edit_disclosure(user: User, provider_id: int) -> bool:
    return user.role == "staff" and user.provider_id is not None and user.provider_id == provider_id


def can_read_disclosure(user: User, provider_id: int) -> bool:
    return user.role in DISCLOSURE_READERS or can_edit_disclosure(user, provider_id)


# --- ratings (好差评) and complaints (投诉举报) ------------------------------------------------
# Follow-ups of a 差评: the rated provider's staff handle their own (callback, answer); the
# supervisors review every one; administrators read. Complaints: the supervisors handle them,
# the hotline clerk records them, administrators read every one, staff read (only) those
# against their own provider.
FOLLOW_UP_REVIEWERS = ("supervisor",)
COMPLAINT_HANDLERS = ("supervisor",)
COMPLAINT_RECORDERS = ("clerk",)


def can_see_follow_up(user: User, provider_id: int) -> bool:
    return user.role in ("supervisor", "admin") or (
        user.role == "staff" and user.provider_id is not None and user.provider_id == provider_id
    )


def can_handle_follow_up(user: User, provider_id: int) -> bool:
    return user.role == "staff" and user.provider_id is not None and user.provider_id == provider_id


def can_review_follow_up(user: User) -> bool:
    return user.role in FOLLOW_UP_REVIEWERS


def can_see_complaint(user: User, provider_id: int | None) -> bool:
    if user.role in ("supervisor", "admin"):
        return True
    return user.role == "staff" and user.provider_id is not None and user.provider_id == provider_id


def can_handle_complaint(user: User) -> bool:
    return user.role in COMPLAINT_HANDLERS


def can_record_complaint(user: User) -> bool:
    return user.role in COMPLAINT_RECORDERS


# --- supervision (监管): dashboards, disclosure compliance, evaluation, correction orders -----
# supervisors and administrators read every figure and issue and review correction orders;
# only administrators change the evaluation's weights and close a month; a provider's staff see
# and answer only their own provider's orders
SUPERVISORS = ("supervisor", "admin")


def can_supervise(user: User) -> bool:
    return user.role in SUPERVISORS


def can_manage_evaluation(user: User) -> bool:
    return user.role == "admin"


def can_see_order(user: User, order) -> bool:
    return can_supervise(user) or (
        user.role == "staff"
        and user.provider_id is not None
        and user.provider_id == order.provider_id
    )


def can_answer_order(user: User, order) -> bool:
    return (
        user.role == "staff"
        and user.provider_id is not None
        and user.provider_id == order.provider_id
    )

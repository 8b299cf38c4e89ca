"""All models, imported here so that metadata and migrations see every table."""

from jointdesk.models.calendar import CalendarOverride, Notification
from jointdesk.models.case import Case, Material
from jointdesk.models.delivery import CallbackEndpoint, HttpDelivery
from jointdesk.models.disclosure import DisclosureItem, DisclosureRevision, OutageNotice
from jointdesk.models.event import Event
from jointdesk.models.feedback import Complaint, Rating, RatingFollowUp
from jointdesk.models.heartbeat import Heartbeat
from jointdesk.models.idempotency import RequestKey
from jointdesk.models.message import ApplicantMessage
from jointdesk.models.message_template import MessageTemplate
from jointdesk.models.meta import Meta
from jointdesk.models.online import OnlineSubmission, VerificationCode
from jointdesk.models.outbox import OutboxMessage
from jointdesk.models.provider_event import ProviderEvent
from jointdesk.models.reference import District, Provider, Route, Service, queue_name_for
from jointdesk.models.supervision import (
    CorrectionOrder,
    EvaluationMonth,
    EvaluationScore,
    EvaluationWeights,
)
from jointdesk.models.ticket import ClosedTicketCount, Permit, Step, Suspension, Ticket
from jointdesk.models.user import ROLES, ApiToken, LoginThrottle, User, UserSession

__all__ = [
    "ROLES",
    "ApiToken",
    "ApplicantMessage",
    "CalendarOverride",
    "CallbackEndpoint",
    "Case",
    "ClosedTicketCount",
    "Complaint",
    "CorrectionOrder",
    "DisclosureItem",
    "DisclosureRevision",
    "District",
    "EvaluationMonth",
    "EvaluationScore",
    "EvaluationWeights",
    "Event",
    "Heartbeat",
    "HttpDelivery",
    "LoginThrottle",
    "Material",
    "MessageTemplate",
    "Meta",
    "Notification",
    "OnlineSubmission",
    "OutageNotice",
    "OutboxMessage",
    "Permit",
    "Provider",
    "ProviderEvent",
    "Rating",
    "RatingFollowUp",
    "RequestKey",
    "Route",
    "Service",
    "Step",
    "Suspension",
    "Ticket",
    "User",
    "UserSession",
    "VerificationCode",
    "queue_name_for",
]

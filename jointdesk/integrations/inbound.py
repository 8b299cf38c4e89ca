"""Events from providers' own systems: a provider that works its tickets in its own system
reports what happened there, and JointDesk changes the ticket exactly as a desk action would.

``POST /api/v1/integrations/providers/{code}/events`` carries no bearer token: the raw body is
signed with the provider's secret (``Provider.webhook_secret``; ``integrations/signing.py``).
An unknown or inactive provider, a provider without a secret, a missing or wrong signature and
a timestamp more than five minutes away all get the same 401, so nobody can probe which codes
exist. Only then is the body read (``ProviderEvent`` in ``schemas.py``: the ticket action's own
body plus ``event_id`` and ``ticket_id``; the provider may use its own words for the actions,
``policy.process.ACTION_ALIASES``: a reported site survey, ``surveyed``, is the ``contact``
action, since the policy has no survey step: the survey is where the provider meets the
applicant, and its note says what was agreed).

Decisions:
- **The actor.** Every change is made by ``desk.services.perform_action`` (rules, clock,
  optimistic locking, audit trail, domain events) in the name of the provider's system user,
  created on first need: username ``<code>-system``, display name ``<provider name>（系统接口）``,
  role ``staff`` of that provider, never active and without a password
  (``access.SYSTEM_ACTOR_HASH``), so it cannot sign in, hold a token or be chosen as anyone's
  representative, yet the audit trail names it. (Should a person already hold that username,
  ``provider-<id>-system`` is used.)
- **The representative** is always a person: when the system accepts or first contacts a
  ticket nobody carries yet, the event may name the representative (``representative``, an
  active staff member of the provider); otherwise the provider's default rules choose one
  (default representative, else the least loaded staff member), as at delivery.
- **Replays.** Only applied events are remembered (``ProviderEvent``, unique per provider and
  ``event_id``, written in the action's transaction). An ``event_id`` applied before answers
  200 ``{"duplicate": true}`` and changes nothing, also when two copies arrive at once: the
  unique constraint lets one commit, the other finds the row and answers duplicate. A refused
  event (404, 409, 422) leaves nothing behind, so a corrected retry may reuse its ``event_id``.
"""

from __future__ import annotations

import logging
import secrets

from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from jointdesk import audit
from jointdesk.access import SYSTEM_ACTOR_HASH, is_system_actor
from jointdesk.desk.services import ActionRefused, perform_action
from jointdesk.extensions import db
from jointdesk.integrations import signing
from jointdesk.models import Provider, ProviderEvent, Ticket, User
from jointdesk.policy.process import ACTION_ALIASES

log = logging.getLogger(__name__)

DISPLAY_SUFFIX = "（系统接口）"
APPLIED = 200
# verified against when there is no secret to check with, so every refusal costs the same
_NO_SECRET = secrets.token_hex(32)


def authenticate(
    code: str, timestamp: str | None, signature_value: str | None, body: bytes
) -> Provider | None:
    """The provider whose secret signed these very bytes within the tolerance; None for any
    refusal (which one is logged, never the body)."""
    provider = db.session.execute(
        db.select(Provider).where(Provider.code == code[:40])
    ).scalar_one_or_none()
    secret = provider.webhook_secret if provider is not None and provider.active else None
    try:
        signing.verify(secret or _NO_SECRET, timestamp, signature_value, body)
    except signing.SignatureError as exc:
        log.warning("provider event for %r refused: %s", code[:40], exc.reason)
        return None
    if not secret:  # pragma: no cover - only a guess of a random secret gets here
        log.warning("provider event for %r refused: no secret is configured", code[:40])
        return None
    return provider


def _display_name(provider: Provider) -> str:
    room = User.display_name.type.length - len(DISPLAY_SUFFIX)
    return provider.name[:room] + DISPLAY_SUFFIX


def system_actor(provider: Provider) -> User:
    """The provider's system user, created (and audited) on first need in the caller's
    transaction (a refused event leaves none); two requests creating it at once make one."""
    for username in (f"{provider.code}-system", f"provider-{provider.id}-system"):
        user = _find_user(username)
        if user is None:
            try:
                with db.session.begin_nested():
                    user = User(
                        username=username,
                        display_name=_display_name(provider),
                        password_hash=SYSTEM_ACTOR_HASH,
                        role="staff",
                        provider_id=provider.id,
                        active=False,
                    )
                    db.session.add(user)
                    db.session.flush()
                    audit.record(
                        "system_actor_created",
                        detail={"username": username, "provider": provider.code},
                    )
            except IntegrityError:  # made by a concurrent request meanwhile
                user = _find_user(username)
        if user is not None and is_system_actor(user) and user.provider_id == provider.id:
            return user
    raise RuntimeError(f"no system user can be made for provider {provider.code}")


def _find_user(username: str) -> User | None:
    return db.session.execute(db.select(User).where(User.username == username)).scalar_one_or_none()


def _applied_before(provider_id: int, event_id: str) -> bool:
    return (
        db.session.execute(
            db.select(ProviderEvent.id).where(
                ProviderEvent.provider_id == provider_id, ProviderEvent.event_id == event_id
            )
        ).first()
        is not None
    )


def apply_event(provider: Provider, data: dict) -> int | None:
    """Applies one validated event (``ProviderEvent`` body) as its ticket action; returns the
    ticket's id, or None when this ``event_id`` was applied before. Raises ActionRefused (404
    for a ticket that is not this provider's, 409 and 422 as the action itself)."""
    event_id = data["event_id"]
    if _applied_before(provider.id, event_id):
        return None
    action = ACTION_ALIASES.get(data["action"], data["action"])
    actor = system_actor(provider)
    ticket = db.session.execute(
        db.select(Ticket)
        .where(Ticket.id == data["ticket_id"])
        .options(
            joinedload(Ticket.case),
            selectinload(Ticket.steps),
            selectinload(Ticket.permits),
            selectinload(Ticket.suspensions),
        )
    ).scalar_one_or_none()
    if ticket is None or ticket.provider_id != provider.id:
        db.session.rollback()
        raise ActionRefused(404, "not_found", _("No such ticket of this provider."))
    # the event's row first: a concurrent copy waits on the unique key, then finds it taken
    db.session.add(
        ProviderEvent(
            provider_id=provider.id,
            event_id=event_id,
            ticket_id=ticket.id,
            action=action,
            outcome=APPLIED,
        )
    )
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        if _applied_before(provider.id, event_id):
            return None
        raise
    try:
        perform_action(  # commits the ticket's change, its audit event and the event's row
            ticket,
            action,
            actor,
            reason=data.get("reason"),
            representative=data.get("representative"),
            permit=data.get("permit"),
            material=data.get("material"),
            note=data.get("note"),
            reason_code=data.get("reason_code"),
        )
    except ActionRefused:
        db.session.rollback()  # nothing stays, the event's row neither: a retry may reuse it
        raise
    log.info(
        "provider %s event %s applied: %s on ticket %s", provider.code, event_id, action, ticket.id
    )
    return ticket.id

"""The read path of a case: plain rows, no ORM identity map.

The case view, the public status and the intake answer read a case in two statements
whatever its size (the case with its district, materials and timeline; its tickets with their
providers, representatives, steps, permits and suspensions, children aggregated as JSON by the
database), straight from the tables the models declare, into small objects that carry the
models' own attribute names. The time-limit code (``jointdesk.sla``) and the view builders
(``jointdesk.cases.services``) read them exactly as they read model instances, so there is one
definition of every figure and no copy to keep current: nothing here is cached, every read sees
the committed state.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, bindparam, func, literal, literal_column, select

from jointdesk.extensions import db
from jointdesk.models import (
    Case,
    District,
    Event,
    Material,
    Permit,
    Provider,
    Step,
    Suspension,
    Ticket,
)
from jointdesk.models import User as UserModel
from jointdesk.models.types import UTCDateTime


class Row:
    """Attributes named like the model's columns, set from a result row or a dict."""

    def __init__(self, values=None, **extra):
        if values is not None:
            self.__dict__.update(values)
        if extra:
            self.__dict__.update(extra)


class DistrictData(Row):
    pass


class ProviderData(Row):
    published_prices = Provider.published_prices  # the model's own property, on these rows


class UserData(Row):
    label = UserModel.label


class StepData(Row):
    pass


class PermitData(Row):
    pass


class SuspensionData(Row):
    pass


class MaterialData(Row):
    outstanding = Material.outstanding


class TicketData(Row):
    current_step = Ticket.current_step


class EventData(Row):
    pass


class CaseData(Row):
    facts = Case.facts


_PROVIDER_COLUMNS = ("code", "name", "phone", "connection_fee", "price_per_metre", "price_basis")
_CASE_COLUMNS = tuple(Case.__table__.c)
_TICKET_COLUMNS = tuple(Ticket.__table__.c)
# children read as one JSON array per parent: (key, table, parent column, sort key, class)
_TICKET_CHILDREN = (
    ("steps", Step.__table__, "ticket_id", ("seq",), StepData),
    ("permits", Permit.__table__, "ticket_id", ("id",), PermitData),
    ("suspensions", Suspension.__table__, "ticket_id", ("id",), SuspensionData),
)
_CASE_CHILDREN = (
    ("materials", Material.__table__, "case_id", ("id",), MaterialData),
    ("events", Event.__table__, "case_id", ("created_at", "id"), EventData),
)


def _json_children(dialect: str, table, parent_column, parent_id):
    """A correlated subquery: the parent's rows of ``table`` as one JSON array of objects."""
    pairs = [x for c in table.c for x in (literal(c.name), c)]
    where = table.c[parent_column] == parent_id
    if dialect == "postgresql":
        rows = func.json_agg(func.json_build_object(*pairs))
        empty = literal_column("'[]'::json")
    else:  # SQLite: JSON text; a JSON column is embedded as JSON, not as a string
        pairs = [func.json(v) if isinstance(getattr(v, "type", None), JSON) else v for v in pairs]
        rows = func.json_group_array(func.json_object(*pairs))
        empty = literal("[]")
    return select(func.coalesce(rows, empty)).where(where).scalar_subquery()


def _converters(table) -> dict[str, Callable]:
    """How a value read back from JSON becomes what the column's type gives."""
    out: dict[str, Callable] = {}
    for c in table.c:
        if isinstance(c.type, UTCDateTime):
            out[c.name] = _moment
        elif isinstance(c.type, Boolean):
            out[c.name] = _boolean
        elif isinstance(c.type, JSON):
            out[c.name] = _json_value
    return out


def _moment(value):
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _boolean(value):
    return None if value is None else bool(value)


def _json_value(value):
    return json.loads(value) if isinstance(value, str) else value


_CONVERT = {
    table.name: _converters(table) for _k, table, *_rest in _TICKET_CHILDREN + _CASE_CHILDREN
}


def _rows(value, table, order: tuple[str, ...], cls) -> list:
    items = json.loads(value) if isinstance(value, (str, bytes)) else (value or [])
    convert = _CONVERT[table.name]
    out = []
    for item in items:
        for name, fn in convert.items():
            item[name] = fn(item.get(name))
        out.append(cls(item))
    out.sort(key=lambda r: tuple(getattr(r, k) for k in order))
    return out


def _ticket_select(dialect: str):
    """Tickets with provider, representative and children; the caller adds the WHERE."""
    provider_cols = [getattr(Provider, name).label(f"p_{name}") for name in _PROVIDER_COLUMNS]
    return (
        select(
            *_TICKET_COLUMNS,
            *provider_cols,
            UserModel.username.label("r_username"),
            UserModel.display_name.label("r_display_name"),
            *(
                _json_children(dialect, table, parent, Ticket.id).label(f"t_{key}")
                for key, table, parent, _order, _cls in _TICKET_CHILDREN
            ),
        )
        .join(Provider, Provider.id == Ticket.provider_id)
        .outerjoin(UserModel, UserModel.id == Ticket.representative_id)
        .order_by(Ticket.id)
    )


@functools.cache
def _one_ticket_statement(dialect: str):
    return (
        _ticket_select(dialect)
        .add_columns(*(c.label(f"k_{c.name}") for c in _CASE_COLUMNS))
        .join(Case, Case.id == Ticket.case_id)
        .where(Ticket.id == bindparam("ticket_id"))
    )


@functools.cache
def _statements(dialect: str):
    """The two statements of a case read, built once per dialect (bound by parameters)."""
    case_stmt = (
        select(
            *_CASE_COLUMNS,
            District.name.label("district_name"),
            *(
                _json_children(dialect, table, parent, Case.id).label(f"c_{key}")
                for key, table, parent, _order, _cls in _CASE_CHILDREN
            ),
        )
        .join(District, District.id == Case.district_id)
        .where(Case.reference == bindparam("reference"))
    )
    ticket_stmt = _ticket_select(dialect).where(Ticket.case_id == bindparam("case_id"))
    return case_stmt, ticket_stmt


def load_case_data(reference: str) -> CaseData | None:
    """The whole case by reference, with its district, materials, timeline, tickets, their
    providers, representatives, steps, permits and suspensions: two statements, whatever its
    size (one when there is no such case)."""
    conn = db.session.connection()
    case_stmt, ticket_stmt = _statements(conn.dialect.name)
    row = conn.execute(case_stmt, {"reference": reference}).first()
    if row is None:
        return None
    m = row._mapping
    case = CaseData(
        {c.name: m[c.name] for c in _CASE_COLUMNS},
        district=DistrictData(id=row.district_id, name=m["district_name"]),
    )
    for key, table, _parent, order, cls in _CASE_CHILDREN:
        setattr(case, key, _rows(m[f"c_{key}"], table, order, cls))
    ticket_rows = conn.execute(ticket_stmt, {"case_id": case.id}).all()
    case.tickets = [_ticket(t._mapping, case) for t in ticket_rows]
    return case


def _ticket(m, case: CaseData) -> TicketData:
    ticket = TicketData({c.name: m[c.name] for c in _TICKET_COLUMNS})
    ticket.case = case
    ticket.provider = ProviderData(
        {name: m[f"p_{name}"] for name in _PROVIDER_COLUMNS}, id=m["provider_id"]
    )
    ticket.representative = (
        None
        if m["representative_id"] is None
        else UserData(
            id=m["representative_id"],
            username=m["r_username"],
            display_name=m["r_display_name"],
        )
    )
    for key, table, _parent, order, cls in _TICKET_CHILDREN:
        setattr(ticket, key, _rows(m[f"t_{key}"], table, order, cls))
    return ticket


def load_ticket_data(ticket_id: int) -> TicketData | None:
    """One ticket with its case's own row, provider, representative and children: one
    statement (what a ticket answer shows, see ``cases.services.ticket_dict``)."""
    conn = db.session.connection()
    row = conn.execute(_one_ticket_statement(conn.dialect.name), {"ticket_id": ticket_id}).first()
    if row is None:
        return None
    m = row._mapping
    case = CaseData({c.name: m[f"k_{c.name}"] for c in _CASE_COLUMNS})
    return _ticket(m, case)


@functools.cache
def _tickets_statement(dialect: str):
    return (
        _ticket_select(dialect)
        .add_columns(
            *(c.label(f"k_{c.name}") for c in _CASE_COLUMNS), District.name.label("d_name")
        )
        .join(Case, Case.id == Ticket.case_id)
        .join(District, District.id == Case.district_id)
        .where(Ticket.id.in_(bindparam("ids", expanding=True)))
    )


def load_tickets_data(ids: list[int]) -> list[TicketData]:
    """Tickets by id, in the order given, each with its case's own row and district, provider,
    representative and children: one statement for a whole page."""
    if not ids:
        return []
    conn = db.session.connection()
    rows = conn.execute(_tickets_statement(conn.dialect.name), {"ids": list(ids)}).all()
    cases: dict[int, CaseData] = {}
    found = {}
    for row in rows:
        m = row._mapping
        case = cases.get(m["case_id"])
        if case is None:
            case = cases[m["case_id"]] = CaseData(
                {c.name: m[f"k_{c.name}"] for c in _CASE_COLUMNS},
                district=DistrictData(id=m["k_district_id"], name=m["d_name"]),
            )
        found[m["id"]] = _ticket(m, case)
    return [found[i] for i in ids if i in found]


@functools.cache
def _cases_statements(dialect: str):
    """Cases by id with their districts (no materials, no timeline), and their tickets."""
    case_stmt = (
        select(*_CASE_COLUMNS, District.name.label("district_name"))
        .join(District, District.id == Case.district_id)
        .where(Case.id.in_(bindparam("ids", expanding=True)))
    )
    ticket_stmt = _ticket_select(dialect).where(
        Ticket.case_id.in_(bindparam("ids", expanding=True))
    )
    return case_stmt, ticket_stmt


def load_cases_data(ids: list[int]) -> list[CaseData]:
    """Cases by id, in the order given, each with its district and its tickets (providers,
    representatives, steps, permits, suspensions), without materials or timeline: two
    statements for a whole page of cases."""
    if not ids:
        return []
    conn = db.session.connection()
    case_stmt, ticket_stmt = _cases_statements(conn.dialect.name)
    cases: dict[int, CaseData] = {}
    for row in conn.execute(case_stmt, {"ids": list(ids)}).all():
        m = row._mapping
        case = CaseData(
            {c.name: m[c.name] for c in _CASE_COLUMNS},
            district=DistrictData(id=m["district_id"], name=m["district_name"]),
        )
        case.tickets = []
        cases[case.id] = case
    if not cases:
        return []
    for row in conn.execute(ticket_stmt, {"ids": list(cases)}).all():
        case = cases[row._mapping["case_id"]]
        case.tickets.append(_ticket(row._mapping, case))
    return [cases[i] for i in ids if i in cases]

"""The read path of a case: plain rows, no ORM identity map.

The case view, the public status and the intake answer read a case in one statement
whatever its size (the case with its district, materials and timeline, and its tickets with
their providers, representatives, steps, permits and suspensions, children aggregated as JSON
by the database), straight from the tables the models declare, into small objects that carry the
models' own attribute names. The time-limit code (``jointdesk.sla``) and the view builders
(``jointdesk.cases.services``) read them exactly as they read model instances, so there is one
definition of every figure and no copy to keep current: nothing here is cached, every read sees
the committed state.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from operator import attrgetter, itemgetter

from flask import current_app, g
from sqlalchemy import (
    JSON,
    Boolean,
    Numeric,
    bindparam,
    event,
    func,
    literal_column,
    select,
)

from jointdesk.extensions import READ_CONNECTION, db
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
from jointdesk.prebuilt import all_rows, any_of, first_row
from jointdesk.workingtime import calendar_version_column, use_calendar_version


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
    def facts(self):
        """``Case.facts``, made once: a read case does not change."""
        made = self.__dict__.get("_facts")
        if made is None:
            made = self._facts = Case.facts(self)
        return made


PROVIDER_COLUMNS = ("code", "name", "phone", "connection_fee", "price_per_metre", "price_basis")
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


def read_without_transaction() -> None:
    """For a request that only reads: its statements run in autocommit, so it costs no BEGIN
    and no ROLLBACK round trip. Safe because each read answers from one statement (a case, a
    page), which sees one snapshot by itself; a write in such a request (a token's coarse
    last-use time) is one statement that commits alone. Call before the first statement.

    On PostgreSQL the connection comes from a pool of its own whose connections stay in
    autocommit (``autocommit_engine``) and is kept in ``g``: the loaders here use it
    directly, and a session the request opens runs on it (``extensions.Session``), so a
    request that needs no session (the applicant's look-up) makes none. Switching a pooled
    connection to autocommit and back on every request cost more than the read it served."""
    registry = db.session.registry
    if registry.has() and registry().in_transaction():
        return
    engine = autocommit_engine()
    if engine is None:
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    else:
        setattr(g, READ_CONNECTION, engine.connect())
    g.read_without_transaction = True


def end_read_without_transaction() -> None:
    """At the end of such a request: the session (if the request opened one) lets go of the
    autocommit connection (no round trip), so nothing after it in the same session writes
    outside a transaction; the connection goes back to its pool."""
    if g.pop("read_without_transaction", False):
        connection = g.pop(READ_CONNECTION, None)
        registry = db.session.registry
        if registry.has():
            session = registry()
            if connection is None or session.in_transaction():
                session.rollback()
        if connection is not None:
            connection.close()


def read_connection():
    """The connection reads run on: in a request that only reads, its autocommit connection,
    used directly (the loaders here and the token look-up need no session around it; other
    reads of the request go through the session, which runs on the same connection); else
    the session's own."""
    connection = g.get(READ_CONNECTION)
    return connection if connection is not None else db.session.connection()


AUTOCOMMIT_ENGINE = "jointdesk_autocommit_engine"  # its key in app.extensions


def autocommit_engine():
    """The app's pool of autocommit connections for requests that only read and the worker's
    take of an outbox row (PostgreSQL; None elsewhere: an in-memory SQLite database exists
    once, in the main pool). Made on first use with the main engine's settings; its
    connections never leave autocommit, and their commits do not wait for the disk."""
    app = current_app._get_current_object()
    engine = app.extensions.get(AUTOCOMMIT_ENGINE, False)
    if engine is False:
        main = db.engine
        engine = None
        if main.dialect.name == "postgresql":
            from sqlalchemy import create_engine

            from jointdesk import ping_when_idle

            options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
            engine = create_engine(
                main.url,
                **options,
                isolation_level="AUTOCOMMIT",
                pool_reset_on_return=None,  # nothing to roll back, ever
            )
            event.listen(engine, "connect", _commits_without_waiting)
            ping_when_idle(engine, app.config["JOINTDESK_DB_PING_AFTER_SECONDS"])
        app.extensions[AUTOCOMMIT_ENGINE] = engine
    return engine


def _commits_without_waiting(dbapi_connection, _record) -> None:
    """What the autocommit pool writes may be lost in a crash of the database without harm (a
    worker's take of an outbox row: the relay publishes the row again and a second delivery
    changes nothing; a token's coarse last use): its commits do not wait for the WAL to reach
    the disk. Set per session, so the database URL's own options stay as they are; every
    other write stays on the main pool."""
    cursor = dbapi_connection.cursor()
    cursor.execute("SET synchronous_commit TO off")
    cursor.close()
    if not dbapi_connection.autocommit:  # a SET in a transaction lasts once it commits
        dbapi_connection.commit()


# Aliases inside the case read: psycopg converts a statement's text once and keeps it only
# while it is at most 4 KiB long (MAX_CACHED_STATEMENT_LENGTH), and PostgreSQL prepares it
# after a few runs; short names keep the whole case read well inside that.
_ALIASES = {
    "materials": "m",
    "events": "e",
    "steps": "s",
    "permits": "pm",
    "suspensions": "sp",
    "tickets": "t",
    "providers": "p",
    "users": "u",
}


def _key(name: str):
    """A key of a JSON object built by the database, written into the SQL (column names
    only, never user input): no bound parameter to send for it."""
    return literal_column(f"'{name}'")


def _json_children(dialect: str, table, parent_column, parent_id):
    """A correlated subquery: the parent's rows of ``table`` as one JSON array of objects."""
    table = table.alias(_ALIASES[table.name])  # short names keep the SQL short (see _ALIASES)
    pairs = [x for c in table.c for x in (_key(c.name), c)]
    where = table.c[parent_column] == parent_id
    if dialect == "postgresql":
        rows = func.json_agg(func.json_build_object(*pairs))
        empty = literal_column("'[]'::json")
    else:  # SQLite: JSON text; a JSON column is embedded as JSON, not as a string
        pairs = [func.json(v) if isinstance(getattr(v, "type", None), JSON) else v for v in pairs]
        rows = func.json_group_array(func.json_object(*pairs))
        empty = literal_column("'[]'")
    return select(func.coalesce(rows, empty)).where(where).scalar_subquery()


class _Convert:
    """How one table's values read back from JSON become what its columns' types give:
    moments (the naive UTC text both databases write, read with its offset in one step),
    booleans (SQLite writes 0 and 1), JSON columns and the ``others`` given (name, function)."""

    __slots__ = ("flags", "moments", "others")

    def __init__(self, table, others: tuple[tuple[str, Callable], ...] = ()):
        columns = list(table.c)
        self.moments = tuple(c.name for c in columns if isinstance(c.type, UTCDateTime))
        self.flags = tuple(c.name for c in columns if isinstance(c.type, Boolean))
        json_columns = tuple((c.name, _json_value) for c in columns if isinstance(c.type, JSON))
        self.others = json_columns + others

    def __call__(self, item: dict) -> dict:
        for name in self.moments:
            value = item.get(name)
            if value is not None:
                item[name] = _from_iso(value + "+00:00")
        for name in self.flags:
            value = item.get(name)
            if value is not None and value.__class__ is not bool:
                item[name] = bool(value)
        for name, fn in self.others:
            item[name] = fn(item.get(name))
        return item


_from_iso = datetime.fromisoformat


def _decimal(value):
    return None if value is None else Decimal(str(value))


def _json_value(value):
    return json.loads(value) if isinstance(value, str) else value


_CONVERT = {table.name: _Convert(table) for _k, table, *_rest in _TICKET_CHILDREN + _CASE_CHILDREN}
# a ticket read as JSON (in a case read): its columns' types back, and the provider's prices
_TICKET_CONVERT = _Convert(
    Ticket.__table__,
    tuple(
        (f"p_{name}", _decimal)
        for name in PROVIDER_COLUMNS
        if isinstance(Provider.__table__.c[name].type, Numeric)
    ),
)


def _json_list(value) -> list:
    return json.loads(value) if isinstance(value, (str, bytes)) else (value or [])


def _rows(value, table, order: tuple[str, ...], cls) -> list:
    convert = _CONVERT[table.name]
    out = [cls(convert(item)) for item in _json_list(value)]
    if len(out) > 1:
        out.sort(key=attrgetter(*order))
    return out


def _ticket_select(dialect: str):
    """Tickets with provider, representative and children; the caller adds the WHERE."""
    provider_cols = [getattr(Provider, name).label(f"p_{name}") for name in PROVIDER_COLUMNS]
    return (
        select(
            *_TICKET_COLUMNS,
            *provider_cols,
            UserModel.username.label("r_username"),
            UserModel.display_name.label("r_display_name"),
            UserModel.phone.label("r_phone"),
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


def _embedded(dialect: str, value):
    """A JSON value inside a JSON object built by the database: on SQLite a subquery's JSON
    arrives as text and must be marked as JSON again, else it would be embedded as a string."""
    return value if dialect == "postgresql" else func.json(value)


def _tickets_json(dialect: str, case_id):
    """A correlated subquery: the case's tickets as one JSON array, each object carrying the
    ticket's columns, its provider's (``p_…``), its representative's (``r_…``) and its
    children (``t_steps``, ``t_permits``, ``t_suspensions``): what ``_ticket`` reads."""
    tickets = Ticket.__table__.alias(_ALIASES["tickets"])
    providers = Provider.__table__.alias(_ALIASES["providers"])
    users = UserModel.__table__.alias(_ALIASES["users"])
    pairs = [(c.name, c) for c in tickets.c]
    pairs += [(f"p_{name}", providers.c[name]) for name in PROVIDER_COLUMNS]
    pairs += [("r_username", users.c.username), ("r_display_name", users.c.display_name)]
    pairs += [("r_phone", users.c.phone)]
    pairs += [
        (f"t_{key}", _embedded(dialect, _json_children(dialect, table, parent, tickets.c.id)))
        for key, table, parent, _order, _cls in _TICKET_CHILDREN
    ]
    args = [x for name, value in pairs for x in (_key(name), value)]
    if dialect == "postgresql":
        rows = func.json_agg(func.json_build_object(*args))
        empty = literal_column("'[]'::json")
    else:
        rows = func.json_group_array(func.json_object(*args))
        empty = literal_column("'[]'")
    return (
        select(func.coalesce(rows, empty))
        .select_from(
            tickets.join(providers, providers.c.id == tickets.c.provider_id).outerjoin(
                users, users.c.id == tickets.c.representative_id
            )
        )
        .where(tickets.c.case_id == case_id)
        .scalar_subquery()
    )


@functools.cache
def _case_statement(dialect: str, by_code: bool, progress: bool = False):
    """The whole case in ONE statement: its row, district, materials and timeline (unless
    only its ``progress`` is wanted), tickets with everything a view shows and the
    calendar's version (``workingtime``), bound by reference (and, for the applicant's
    look-up, by the query code's digest as well)."""
    stmt = (
        select(
            *_CASE_COLUMNS,
            District.name.label("district_name"),
            *(
                _json_children(dialect, table, parent, Case.id).label(f"c_{key}")
                for key, table, parent, _order, _cls in _case_children(progress)
            ),
            _tickets_json(dialect, Case.id).label("c_tickets"),
            calendar_version_column(),
        )
        .join(District, District.id == Case.district_id)
        .where(Case.reference == bindparam("reference"))
    )
    if by_code:
        stmt = stmt.where(Case.query_code_hash == bindparam("digest"))
    return stmt


def _case_children(progress: bool) -> tuple:
    return () if progress else _CASE_CHILDREN


def load_case_data(
    reference: str, *, query_code_digest: str | None = None, progress: bool = False
) -> CaseData | None:
    """The whole case by reference, with its district, materials, timeline, tickets, their
    providers, representatives, steps, permits and suspensions: one statement, whatever its
    size. With ``query_code_digest`` only the case whose query code has that digest (the
    applicant's look-up: an unknown reference and a wrong code cost the same one statement).
    The calendar's version comes with it, so the time limits need no statement of their own.
    ``progress=True`` reads what an applicant's progress answer shows: the case without its
    timeline (an old case has many events) and materials; the case then has no ``events`` and
    no ``materials`` attribute at all, never an empty list."""
    conn = read_connection()
    stmt = _case_statement(conn.dialect.name, query_code_digest is not None, progress)
    params = {"reference": reference}
    if query_code_digest is not None:
        params["digest"] = query_code_digest
    m = first_row(conn, stmt, params)
    if m is None:
        return None
    use_calendar_version(m["calendar_version"])
    case = CaseData(
        {c.name: m[c.name] for c in _CASE_COLUMNS},
        district=DistrictData(id=m["district_id"], name=m["district_name"]),
    )
    for key, table, _parent, order, cls in _case_children(progress):
        setattr(case, key, _rows(m[f"c_{key}"], table, order, cls))
    tickets = [_TICKET_CONVERT(item) for item in _json_list(m["c_tickets"])]
    tickets.sort(key=itemgetter("id"))
    case.tickets = [_ticket(t, case) for t in tickets]
    return case


def _ticket(m, case: CaseData) -> TicketData:
    ticket = TicketData({c.name: m[c.name] for c in _TICKET_COLUMNS})
    ticket.case = case
    ticket.provider = ProviderData(
        {name: m[f"p_{name}"] for name in PROVIDER_COLUMNS}, id=m["provider_id"]
    )
    ticket.representative = (
        None
        if m["representative_id"] is None
        else UserData(
            id=m["representative_id"],
            username=m["r_username"],
            display_name=m["r_display_name"],
            phone=m["r_phone"],
        )
    )
    for key, table, _parent, order, cls in _TICKET_CHILDREN:
        setattr(ticket, key, _rows(m[f"t_{key}"], table, order, cls))
    return ticket


def load_ticket_data(ticket_id: int) -> TicketData | None:
    """One ticket with its case's own row, provider, representative and children: one
    statement (what a ticket answer shows, see ``cases.services.ticket_dict``)."""
    conn = read_connection()
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
        .where(any_of(dialect, Ticket.id, "ids"))
    )


def load_tickets_data(ids: list[int]) -> list[TicketData]:
    """Tickets by id, in the order given, each with its case's own row and district, provider,
    representative and children: one statement for a whole page."""
    if not ids:
        return []
    conn = read_connection()
    rows = all_rows(conn, _tickets_statement(conn.dialect.name), {"ids": list(ids)})
    cases: dict[int, CaseData] = {}
    found = {}
    for m in rows:
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
    conn = read_connection()
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

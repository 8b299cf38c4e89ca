"""Prebuilt statements run on the driver's cursor: the hot paths' reads and writes (a case
read, a token's user, a page of tickets, the delivery's read and hand-over, the audit
row...), built once per process, compiled once per dialect and driver, their values converted
exactly as SQLAlchemy converts them, without SQLAlchemy's work per execution of a cached
statement.
"""

from __future__ import annotations

import contextlib
import functools

from sqlalchemy import (
    Boolean,
    Integer,
    String,
    any_,
    bindparam,
    false,
    insert,
    literal_column,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError


class _Prepared:
    """A prebuilt statement compiled once for one dialect: its SQL, its parameters' order and
    conversions, its columns' names and the conversions SQLAlchemy would apply to them."""

    def __init__(self, stmt, dialect):
        compiled = stmt.compile(dialect=dialect)
        self.sql = compiled.string
        self.reads = stmt.is_select
        binds = compiled.bind_names  # each parameter, by the name it has in the SQL
        # completed per run by SQLAlchemy (an expanding IN), or rows of columns it does not
        # name (a textual SELECT): left to SQLAlchemy
        self.via_sqlalchemy = any(b.expanding for b in binds)
        # the values the statement carries itself (literals); the rest are given per run
        self.defaults = {n: b.effective_value for b, n in binds.items() if not b.required}
        self.positions = tuple(compiled.positiontup) if compiled.positional else None
        self.binds = {
            name: fn
            for bind, name in binds.items()
            if (fn := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        columns = stmt.exported_columns  # a SELECT's columns, or what an UPDATE returns
        self.names = tuple(c.key for c in columns)
        self.via_sqlalchemy = self.via_sqlalchemy or (self.reads and not self.names)
        self.types = tuple(c.type.dialect_impl(dialect) for c in columns)
        self.dialect = dialect
        self.processors: tuple | None = None  # from the first run's column types
        self.plain = False

    def learn(self, description) -> None:
        """The conversions, chosen as SQLAlchemy chooses them: by the column's type and the
        type the driver reports for it (a NUMERIC, say)."""
        self.processors = tuple(
            t.result_processor(self.dialect, d[1])
            for t, d in zip(self.types, description, strict=True)
        )
        self.plain = not any(self.processors)

    def parameters(self, params: dict):
        values = {**self.defaults, **params}
        for name, fn in self.binds.items():
            values[name] = fn(values[name])
        if self.positions is not None:
            return tuple(values[name] for name in self.positions)
        return values

    def mapping(self, row) -> dict:
        if not self.plain:
            row = [v if fn is None else fn(v) for fn, v in zip(self.processors, row, strict=True)]
        return dict(zip(self.names, row, strict=True))


_PREPARED: dict[tuple, _Prepared] = {}
_MAX_PREPARED = 200  # the hot paths' prebuilt statements are a dozen; more are not kept


def first_row(connection, stmt, params: dict) -> dict | None:
    """Runs a prebuilt statement (built once per process, as the hot paths' are: a SELECT, an
    INSERT or an UPDATE, with or without RETURNING) on ``connection``'s DBAPI cursor, in whatever
    transaction the connection is in, and gives its first row as a dict of its columns'
    values converted as SQLAlchemy converts them (None: no row, or nothing returned). A fresh
    run each time, without the work SQLAlchemy does per execution of a statement it has
    cached (its cache key, result metadata from the cursor's description: a case read's 25
    columns cost more than the read itself). Listeners of the engine's
    ``before_cursor_execute`` and ``after_cursor_execute`` events see the statement as usual.

    Should the driver raise, the error is SQLAlchemy's, wrapped as SQLAlchemy wraps it (its
    parameters hidden as the engine hides them) and never run twice; on a lost connection the
    statement goes to SQLAlchemy, which raises its own error and has the pool let the
    connection go (nothing can run on it). A statement SQLAlchemy must finish per run (an
    expanding IN) simply runs through SQLAlchemy."""
    rows = _run(connection, stmt, params, many=False)
    return rows[0] if rows else None


def all_rows(connection, stmt, params: dict) -> list[dict]:
    """Every row of a prebuilt SELECT, as ``first_row`` gives one."""
    return _run(connection, stmt, params, many=True)


def _run(connection, stmt, params: dict, many: bool) -> list[dict]:
    dialect = connection.dialect
    key = (stmt, dialect.name, dialect.driver)
    prepared = _PREPARED.get(key)
    if prepared is None:
        prepared = _Prepared(stmt, dialect)
        if len(_PREPARED) < _MAX_PREPARED:  # a statement built per call is not kept
            _PREPARED[key] = prepared
    if prepared.via_sqlalchemy:
        return _through_sqlalchemy(connection, stmt, params, many)
    values = prepared.parameters(params)
    dispatch = connection.dispatch
    driver = connection.connection.driver_connection
    cursor = driver.cursor()
    try:
        for listener in dispatch.before_cursor_execute:
            listener(connection, cursor, prepared.sql, values, None, False)
        cursor.execute(prepared.sql, values)
        rows = []
        if prepared.names:  # a SELECT, or a write that returns a row
            if prepared.processors is None:
                prepared.learn(cursor.description)
            if many:
                rows = cursor.fetchall()
            else:
                row = cursor.fetchone()
                rows = [] if row is None else [row]
        for listener in dispatch.after_cursor_execute:
            listener(connection, cursor, prepared.sql, values, None, False)
    except dialect.loaded_dbapi.Error as err:
        lost = dialect.is_disconnect(err, driver, cursor)
        with contextlib.suppress(dialect.loaded_dbapi.Error):
            cursor.close()
        if lost:  # SQLAlchemy notices it and lets the pool go; nothing can run on it again
            return _through_sqlalchemy(connection, stmt, params, many)
        raise DBAPIError.instance(
            prepared.sql,
            values,
            err,
            dialect.loaded_dbapi.Error,
            hide_parameters=connection.engine.hide_parameters,  # never applicants' data
            dialect=dialect,
        ) from err
    cursor.close()
    return [prepared.mapping(row) for row in rows]


def insert_rows(
    connection,
    table,
    rows: list[dict],
    returning: tuple[str, ...] | bool = (),
    key: str | tuple[str, ...] | None = None,
) -> list[dict]:
    """Writes ``rows`` (dicts with the same keys) into ``table`` with one multi-row INSERT on the
    driver's cursor, as ``first_row`` runs a statement, and returns the ``returning`` columns
    (True: every column, as stored) of each row as a dict, in the order of ``rows``; [] without
    ``returning``. The statement is built and compiled once per table, columns and number of
    rows. Columns not given get their Python-side defaults as SQLAlchemy's INSERT gives them
    (a constant, or a callable called per row, without SQLAlchemy's execution context: a
    default that reads the statement's other values is not for this), the rest the
    database's.

    The database does not promise RETURNING's rows in the order of VALUES: for several rows,
    ``key`` names the given column (or columns) that tell them apart (a ticket's service, a
    step's ticket and number), by which each returned row is matched to its row."""
    if not rows:
        return []
    given = tuple(rows[0])
    if returning is True:
        returning = tuple(c.key for c in table.columns)
    stmt, defaults = _multi_insert(table, given, len(rows), returning)
    params = {}
    for i, row in enumerate(rows):
        for name in given:
            params[f"{name}_{i}"] = row[name]
        for name, value in defaults:
            params[f"{name}_{i}"] = value(None) if callable(value) else value
    found = _run(connection, stmt, params, many=True)
    if not returning or len(rows) == 1:
        return found
    if key is None:
        raise TypeError("insert_rows: several rows returned need a key")
    names = (key,) if isinstance(key, str) else key
    by_key = {tuple(r[n] for n in names): r for r in found}
    if len(by_key) != len(rows):
        raise ValueError(f"insert_rows: {key!r} does not tell the rows apart")
    return [by_key[tuple(row[n] for n in names)] for row in rows]


_PLAIN_TYPES = (Boolean, Integer, String)


@functools.cache  # as many as the shapes intake writes (tables × row counts): a few dozen
def _multi_insert(table, given: tuple[str, ...], count: int, returning: tuple[str, ...]):
    """The INSERT of ``count`` rows of the ``given`` columns and those with a Python-side
    default, built once; with the defaults to bind per row as (column, value or callable).
    A constant default (a number, a flag, a plain word) is written into the statement itself:
    fewer parameters (psycopg keeps a statement's converted text only up to 50)."""
    written, bound = {}, []
    for c in table.columns:
        if c.key in given or c.default is None:
            continue
        if c.default.is_sequence or c.default.is_clause_element:
            continue
        value = c.default.arg
        if c.default.is_scalar and (inline := _constant(c.type, value)) is not None:
            written[c.key] = inline
        else:
            bound.append((c.key, value))
    names = given + tuple(name for name, _value in bound)
    values = [
        {name: bindparam(f"{name}_{i}", type_=table.c[name].type) for name in names} | written
        for i in range(count)
    ]
    stmt = insert(table).values(values)
    if returning:
        stmt = stmt.returning(*(table.c[name] for name in returning))
    return stmt, tuple(bound)


def _constant(kind, value):
    """A default as SQL written into the statement, or None to bind it: only a plain word,
    number or flag of a plain string, integer or boolean column (a type of its own would
    convert or check the value when bound)."""
    if type(kind) not in _PLAIN_TYPES:
        return None
    if isinstance(value, bool):
        return true() if value else false()
    if isinstance(value, int):
        return literal_column(str(value))
    word = value.replace("_", "") if isinstance(value, str) else ""
    if word.isascii() and word.isalnum():  # a plain word: nothing to quote
        return literal_column(f"'{value}'")
    return None


def _through_sqlalchemy(connection, stmt, params: dict, many: bool) -> list[dict]:
    result = connection.execute(stmt, params)
    if not result.returns_rows:
        return []
    found = result.all() if many else [r for r in [result.first()] if r is not None]
    return [dict(r._mapping) for r in found]


def any_of(dialect: str, column, name: str):
    """``column`` is one of the values bound as ``name`` (a list): on PostgreSQL one array
    parameter (one statement text and plan whatever the count, prepared once; ``first_row``
    and ``all_rows`` run it), elsewhere an expanding IN (which they leave to SQLAlchemy)."""
    if dialect == "postgresql":
        # an array of the column's kind without its length: a cast to VARCHAR(20)[] would cut
        # a longer value to size instead of leaving it unmatched
        kind = String() if isinstance(column.type, String) else column.type
        return column == any_(bindparam(name, type_=ARRAY(kind)))
    return column.in_(bindparam(name, expanding=True))

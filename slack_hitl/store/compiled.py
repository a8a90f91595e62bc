"""The store's statements compiled once per dialect, and laid out for a driver's own connection.

SQLAlchemy compiles each statement the way it would to execute it: the SQL text, the order of
its positional parameters, and its own conversions of values on the way in (bind processors)
and out (result processors). A ``Plan`` keeps that, so a database that runs statements on the
driver's connection itself (``sqlite_file``, ``postgres``) stores and reads back exactly what the
SQLAlchemy path would, without SQLAlchemy's per-execution work.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from operator import itemgetter
from typing import Any, Final, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.types import DateTime, TypeEngine

from slack_hitl.store.transactions import Rows

Convert = Callable[[Any], Any]
MANY: Final = (list, tuple)
"""Parameters given as one of these execute the statement once per item."""


class _Probe:
    """Stands for a caller's value while a statement's parameters are laid out: which one it is."""

    __slots__ = ("index", "key")

    def __init__(self, key: str, index: int | None) -> None:
        self.key = key
        self.index = index


class Plan:
    """A compiled statement as sqlite3 executes it: the SQL text, and where each ``?`` gets its value."""

    __slots__ = ("constants", "converts", "fetch", "items", "keys", "names", "results", "sql")

    def __init__(
        self,
        sql: str,
        names: list[Hashable],
        constants: dict[Hashable, Any],
        items: list[tuple[int, str, int]],
        converts: list[tuple[int, Convert]],
    ) -> None:
        self.sql = sql
        self.names = names
        """Per ``?``, in order: the caller's parameter, or the key of one of the statement's ``constants``."""
        self.constants = constants
        """The statement's own values (its literals), already converted."""
        self.items = items
        """(position, name, index) of each item of a list the caller gives (``IN`` an expanding list)."""
        self.converts = converts
        """(position, SQLAlchemy's conversion of the caller's value there for its column's type)."""
        # All values at once, in C, where no expanding list is to be taken apart.
        self.fetch = itemgetter(*names) if len(names) > 1 and not items else None
        self.keys: tuple[str, ...] = ()
        """The names of the columns a statement returns."""
        self.results: tuple[Convert | None, ...] | None = None
        """SQLAlchemy's conversion of each returned column's values (``None``: none converts)."""

    def values(self, params: Mapping[Any, Any]) -> list[Any]:
        source = {**params, **self.constants} if self.constants else params
        if self.fetch is not None:
            found = list(self.fetch(source))
        else:
            found = [None if name is None else source[name] for name in self.names]
            for position, name, index in self.items:
                found[position] = params[name][index]
        for position, convert in self.converts:
            found[position] = convert(found[position])
        return found

    def rows(self, found: Sequence[Sequence[Any]]) -> Rows:
        """The rows a database returned, converted as SQLAlchemy converts them for their columns."""
        converters = self.results
        if converters is not None:
            found = [
                tuple(
                    value if convert is None else convert(value) for convert, value in zip(converters, row, strict=True)
                )
                for row in found
            ]
        return Rows(self.keys, found, len(found))


class _LastConversion:
    """A conversion that remembers its last two datetimes: a transaction binds its ``now`` several
    times (the row CAS, the log, the version bump, the resume CAS, with a lease's end between),
    and SQLAlchemy's conversion of a datetime for SQLite is a large part of a decision's CPU
    (benchmarks/bench_decide.py). Only for datetimes, which never change: the same object
    converts to the same text."""

    __slots__ = ("convert", "last")

    def __init__(self, convert: Convert) -> None:
        self.convert = convert
        self.last: tuple[Any, Any, Any, Any] = (None, None, None, None)

    def __call__(self, value: Any) -> Any:
        last = self.last  # one read, one write: the reader and writer threads may share it
        if value is not None:
            if last[0] is value:
                return last[1]
            if last[2] is value:
                return last[3]
        converted = self.convert(value)
        self.last = (value, converted, last[0], last[1])
        return converted


class _Compiled:
    """A statement as SQLAlchemy compiles it for SQLite with parameters of given names, and its plans."""

    __slots__ = ("compiled", "expanding", "plans", "statement")

    def __init__(self, statement: Executable, compiled: SQLCompiler) -> None:
        self.statement = statement
        """Kept with its compilation, so that its id (the cache's key) stays its own."""
        self.compiled = compiled
        self.expanding = tuple(bind.key for bind in compiled.binds.values() if bind.expanding)
        self.plans: dict[tuple[int, ...], Plan] = {}
        """The plans of a statement with expanding lists, by their lengths."""


class CompiledStatements:
    """SQLAlchemy Core statements compiled once for a dialect, each laid out as a ``Plan`` per shape of its parameters."""

    _shared: dict[type[Dialect], CompiledStatements] = {}

    @classmethod
    def of(cls, dialect: Dialect) -> CompiledStatements:
        """The compilations for ``dialect``'s kind, shared by every store of the process: they depend
        on nothing else, and each costs a few milliseconds (a large row CAS, tens)."""
        return cls._shared.setdefault(type(dialect), cls(dialect))

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._compiled: dict[tuple[int, int], _Compiled] = {}
        self._plans: dict[tuple[int, int], Plan] = {}
        """The plans of the statements without expanding lists, by statement and count of parameters."""
        self._datetimes: dict[str, _LastConversion] = {}
        """One remembering conversion per datetime type (all the store's are ``UTCDateTime()``)."""

    def plan(self, statement: Executable, params: Mapping[str, Any]) -> Plan:
        """How to execute ``statement`` with ``params`` (one dict of them): laid out once, then found."""
        return self._plans.get((id(statement), len(params))) or self._plan(statement, params)

    def _plan(self, statement: Executable, params: Mapping[str, Any]) -> Plan:
        # The store executes each statement with parameters of the same names every time: their
        # count tells the compilations apart.
        compiled = self._compiled.get((id(statement), len(params)))
        if compiled is None:
            # Compiled as SQLAlchemy compiles it to execute it with these parameters.
            clause = cast(ClauseElement, statement)
            sql = clause.compile(dialect=self._dialect, column_keys=sorted(params))
            assert isinstance(sql, SQLCompiler)
            compiled = self._compiled[(id(statement), len(params))] = _Compiled(statement, sql)
        if not compiled.expanding:
            # The one plan, found by execute() from now on without coming here.
            simple = self._plans[(id(statement), len(params))] = self._lay_out(compiled, params)
            return simple
        shape = tuple(len(params[key]) for key in compiled.expanding)
        found = compiled.plans.get(shape)
        if found is None:
            found = compiled.plans[shape] = self._lay_out(compiled, params)
        return found

    def _lay_out(self, compiled: _Compiled, params: Mapping[str, Any]) -> Plan:
        """Let SQLAlchemy expand the statement for probes standing in for the caller's values, then
        note where each of its positional parameters comes from and how SQLAlchemy converts it."""
        sql = compiled.compiled
        probes: dict[str, Any] = {}
        for bind in sql.binds.values():
            if bind.key in params:
                count = len(params[bind.key]) if bind.expanding else None
                probes[bind.key] = (
                    [_Probe(bind.key, i) for i in range(count)] if count is not None else _Probe(bind.key, None)
                )
        expanded = sql.construct_expanded_state(probes, escape_names=False)
        names: list[Hashable] = []
        constants: dict[Hashable, Any] = {}
        items: list[tuple[int, str, int]] = []
        converts: list[tuple[int, Convert]] = []
        for position, name in enumerate(expanded.positiontup or ()):
            value = expanded.parameters[name]
            source = sql.binds.get(name)  # None for an item of an expanding list (its processor is given)
            convert = expanded.processors.get(name)
            if convert is None and source is not None:
                convert = source.type.dialect_impl(self._dialect).bind_processor(self._dialect)
            if convert is not None and source is not None and _is_datetime(source.type):
                convert = self._datetimes.setdefault(repr(source.type), _LastConversion(convert))
            if not isinstance(value, _Probe):
                names.append(("constant", position))
                constants[("constant", position)] = value if convert is None else convert(value)
                continue
            if value.index is None:
                names.append(value.key)
            else:
                names.append(None)
                items.append((position, value.key, value.index))
            if convert is not None:
                converts.append((position, convert))
        plan = Plan(expanded.statement, names, constants, items, converts)
        plan.keys, plan.results = self._result(compiled.statement)
        return plan

    def _result(self, statement: Executable) -> tuple[tuple[str, ...], tuple[Convert | None, ...] | None]:
        columns = list(statement.exported_columns)  # type: ignore[attr-defined]
        dialect = self._dialect
        converters = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
        return tuple(c.key for c in columns), converters if any(converters) else None


def _is_datetime(type_: TypeEngine[Any]) -> bool:
    return isinstance(type_, DateTime) or isinstance(getattr(type_, "impl_instance", None), DateTime)

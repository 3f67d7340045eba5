"""Build a validated ``HallConfig`` from TOML, reporting every mistake at once.

Theory of operation: tomllib turns the text into plain dicts and lists. A ``_Table`` wraps one
TOML table together with its key path and hands out typed values. A value that is missing,
mistyped or out of range records a ``ConfigProblem`` and yields a placeholder, so reading goes
on and the next mistake is found in the same run. Each table remembers which of its keys were
bad; the cross-checks (duplicates, references between sections) look only at values that were
valid themselves, so one typo does not drag a tail of follow-on complaints behind it. Sections
are read in reference order (services before windows, windows and buses before devices) so
that references are checked where they are read. If anything was recorded, the placeholders
are thrown away and one ``ConfigError`` carries the whole list.

Key paths: ``section.key`` for tables, ``section[i].key`` for ``[[arrays]]`` (i counts from 0),
keys that are not bare TOML keys are shown quoted.
"""

from __future__ import annotations

import difflib
import enum
import json
import math
import os
import re
import tomllib
import zoneinfo
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import partial
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

from controller.config.errors import ConfigError, ConfigProblem
from controller.config.model import (
    DEFAULT_REASON_TAGS,
    Appointments,
    CallingPolicy,
    Department,
    Device,
    DeviceKind,
    Evaluation,
    HallConfig,
    HallSettings,
    HttpSettings,
    LateArrival,
    LeftoverPolicy,
    LinkKind,
    MqttSettings,
    PriorityClass,
    ReasonTag,
    Reporting,
    SerialBus,
    SerialLink,
    Service,
    ServiceBooking,
    SlotRules,
    Staff,
    StoreSettings,
    Window,
    WindowService,
)

__all__ = ["build_config", "load_config", "parse_config"]

_T = TypeVar("_T")
_E = TypeVar("_E", bound=enum.Enum)
_K = TypeVar("_K", bound=Hashable)

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_IDENT = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PREFIX = re.compile(r"[A-Z][A-Z0-9]{0,2}")
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_REGION_CODE = re.compile(r"[0-9]{6}|[0-9]{9}|[0-9]{12}")
_ITEM_CODE = re.compile(r"[0-9A-Za-z]{1,64}")
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_HTTP_URL = re.compile(r"https?://[^\s/]+(/\S*)?")
_SYNTAX_POSITION = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_SYNTAX_AT_END = re.compile(r"^(?P<msg>.*) \(at end of document\)$")

_STANDARD_BAUDRATES = (1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 230400)
_STORE_KINDS = ("sqlite", "postgres")
_STORE_KINDS_NOT_YET: tuple[str, ...] = ()  # recognised, refused by name until it is built
_DSN = re.compile(r"postgres(ql)?://\S+")
_PARITIES = ("N", "E", "O", "M", "S")
_WINDOW_KINDS = (DeviceKind.CALLER, DeviceKind.WINDOW_DISPLAY, DeviceKind.EVALUATOR)
_SERIAL_KEYS = ("bus", "address", "protocol")

_TOP_KEYS = (
    "hall",
    "services",
    "windows",
    "staff",
    "departments",
    "devices",
    "buses",
    "policy",
    "evaluation",
    "store",
    "mqtt",
    "http",
    "reporting",
    "appointments",
)
_HALL_KEYS = ("id", "name", "timezone", "region_code", "closing_time", "leftover", "notice")
_SERVICE_KEYS = (
    "id",
    "name",
    "prefix",
    "number_min",
    "number_max",
    "number_width",
    "daily_reset",
    "green_channel",
    "expected_minutes",
    "item_code",
)
_WINDOW_KEYS = ("number", "name", "department", "services")
_WINDOW_SERVICE_KEYS = ("service", "weight")
_STAFF_KEYS = ("id", "name", "photo", "title")
_BUS_KEYS = ("id", "port", "baudrate", "bytesize", "parity", "stopbits", "turnaround_ms")
_DEVICE_KEYS = ("id", "kind", "link", "window", *_SERIAL_KEYS)
_POLICY_KEYS = (
    "priority_order",
    "fairness_bound_minutes",
    "appointment_early_minutes",
    "appointment_late_minutes",
    "max_recalls",
    "implicit_start",
)
_EVALUATION_KEYS = (
    "window_seconds",
    "late_delivery_seconds",
    "reasons",
    "follow_up_days",
    "follow_up_url",
    "contact_working_days",
    "rectify_working_days",
    "escalation_webhook",
    "call_webhook",
    "secrets_file",
    "allow_unsigned_pads",
    "holidays",
    "adjusted_workdays",
    "calendar_years",
    "disclose_staff",
)
_REASON_KEYS = ("id", "text", "code")
_DEPARTMENT_KEYS = ("id", "name", "code")
_REPORTING_KEYS = (
    "adapter",
    "url",
    "id",
    "credentials",
    "batch_size",
    "timeout_seconds",
    "max_backoff_seconds",
)
_STORE_KEYS = ("kind", "path", "dsn", "snapshot_every_events")
_MQTT_KEYS = (
    "host",
    "port",
    "username",
    "password",
    "login",
    "credentials_file",
    "tls",
    "ca_file",
    "cert_file",
    "key_file",
)
_HTTP_KEYS = ("host", "port", "public_url")
_SLOT_KEYS = ("slot_minutes", "capacity", "days_ahead", "cutoff_minutes", "windows")
_APPOINTMENT_KEYS = (
    "enabled",
    *_SLOT_KEYS,
    "holidays_closed",
    "no_show_limit",
    "no_show_days",
    "block_days",
    "per_phone_per_day",
    "public_per_ip_per_minute",
    "late_arrival",
    "services",
)
_SERVICE_BOOKING_KEYS = ("service", "enabled", *_SLOT_KEYS)
_DAY_WINDOW = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])-([01]?[0-9]|2[0-3]):([0-5][0-9])")

_IDENT_RULE = "1 to 64 letters, digits, '-' or '_' (it appears in MQTT topics and logs)"
_SYNTAX_HINTS = {
    "Invalid value": 'text needs quotes, e.g. name = "综合窗口", closing_time = "17:30"',
    "Cannot overwrite a value": "a key is set twice in the same table",
}


# --------------------------------------------------------------------------- entry points


def load_config(
    path: str | os.PathLike[str], *, protocols: Collection[str] | None = None
) -> HallConfig:
    """Read and validate a hall configuration file (UTF-8 TOML).

    ``protocols``: the wire protocol names serial devices may use (the codec registry's
    names); None accepts any non-empty name, leaving the check to whoever builds the drivers.
    """
    source = os.fspath(path)
    try:
        raw = Path(source).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError([ConfigProblem(source, "", f"cannot read the file: {reason}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        message = "the file is not UTF-8 text (saved as GBK/ANSI?); save it as UTF-8"
        raise ConfigError([ConfigProblem(source, "", message, line=line)]) from None
    return parse_config(text, source, protocols=protocols)


def parse_config(
    text: str, source: str = "<memory>", *, protocols: Collection[str] | None = None
) -> HallConfig:
    """Validate configuration text; ``source`` names it in problems and in the result."""
    text = text.removeprefix("\ufeff")  # Windows Notepad writes a BOM; TOML forbids it
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(str(exc), source)]) from None
    return build_config(data, source, protocols=protocols)


def build_config(
    data: Mapping[str, object],
    source: str = "<memory>",
    *,
    protocols: Collection[str] | None = None,
) -> HallConfig:
    """Validate already-parsed TOML data (what ``tomllib.loads`` returns)."""
    problems = _Problems(source)
    top = _Table(data, "", problems, _TOP_KEYS, unknown_word="section")
    hall = _hall(top.table("hall", _HALL_KEYS, required=True))
    services = _services(top.array_of_tables("services", _SERVICE_KEYS, required=True))
    windows = _windows(
        top.array_of_tables("windows", _WINDOW_KEYS, required=True),
        [s.id for s, t in services if t.ok("id")],
    )
    staff = _staff(top.array_of_tables("staff", _STAFF_KEYS))
    departments = _departments(top.array_of_tables("departments", _DEPARTMENT_KEYS), windows)
    buses = _buses(top.array_of_tables("buses", _BUS_KEYS))
    devices = _devices(
        top.array_of_tables("devices", _DEVICE_KEYS),
        _Known(
            window_numbers=[w.number for w, t in windows if t.ok("number")],
            bus_ids=[b.id for b, t in buses if t.ok("id")],
            protocols=sorted(protocols) if protocols is not None else None,
        ),
    )
    policy = _policy(top.table("policy", _POLICY_KEYS))
    evaluation = _evaluation(top.table("evaluation", _EVALUATION_KEYS))
    store = _store(top.table("store", _STORE_KEYS))
    mqtt = _mqtt(top.table("mqtt", _MQTT_KEYS))
    http = _http(top.table("http", _HTTP_KEYS))
    reporting = _reportings(top)
    appointments = _appointments(top, [s.id for s, t in services if t.ok("id")])
    if problems:
        raise ConfigError(problems.in_file_order())
    return HallConfig(
        hall=hall,
        services=tuple(s for s, _ in services),
        windows=tuple(w for w, _ in windows),
        staff=tuple(s for s, _ in staff),
        departments=tuple(d for d, _ in departments),
        devices=tuple(d for d, _ in devices),
        buses=tuple(b for b, _ in buses),
        policy=policy,
        evaluation=evaluation,
        store=store,
        mqtt=mqtt,
        http=http,
        reporting=reporting,
        appointments=appointments,
        source=source,
    )


def _syntax_problem(error_text: str, source: str) -> ConfigProblem:
    """tomllib only offers its message text; lift line and column out of it."""
    located = _SYNTAX_POSITION.match(error_text)
    at_end = _SYNTAX_AT_END.match(error_text)
    bare = located["msg"] if located else at_end["msg"] if at_end else error_text
    hint = _SYNTAX_HINTS.get(bare)
    detail = f"{bare} ({hint})" if hint else bare
    if located:
        line, column = int(located["line"]), int(located["col"])
        return ConfigProblem(source, "", f"TOML syntax error: {detail}", line, column)
    where = " at the end of the file" if at_end else ""
    return ConfigProblem(source, "", f"TOML syntax error{where}: {detail}")


# --------------------------------------------------------------------------- reading values


class _Invalid(Exception):
    """Raised by a value check; its text becomes the problem's message."""


class _Problems:
    """Everything found so far, each with its position in the document for sorting.

    Checks run section by section and cross-checks run last; sorting by position gives the
    reader the problems top to bottom, as in the file.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._found: list[tuple[tuple[int, ...], ConfigProblem]] = []

    def add(self, key: str, message: str, position: tuple[int, ...]) -> None:
        self._found.append((position, ConfigProblem(self.source, key, message)))

    def __bool__(self) -> bool:
        return bool(self._found)

    def in_file_order(self) -> list[ConfigProblem]:
        return [problem for _, problem in sorted(self._found, key=lambda found: found[0])]


def _quote(text: str) -> str:
    """A double-quoted string that stays on one line whatever it holds (NEL, U+2028...)."""
    body = json.dumps(text, ensure_ascii=False)
    return "".join(
        ch
        if ch.isprintable()
        else f"\\u{ord(ch):04x}"
        if ord(ch) <= 0xFFFF
        else f"\\U{ord(ch):08x}"
        for ch in body
    )


def _key_path(parent: str, key: str) -> str:
    shown = key if _BARE_KEY.fullmatch(key) else _quote(key)
    return f"{parent}.{shown}" if parent else shown


def _item_path(parent: str, index: int) -> str:
    return f"{parent}[{index}]"


def _show(value: object) -> str:
    """A value spelled as in the file, cut short so a problem stays on one line."""
    if isinstance(value, str):
        text = _quote(value)
        return text if len(text) <= 42 else text[:38] + '..."'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float, date, time)):
        return str(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (str, "a string"),
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a decimal number"),
    (datetime, "a date-time"),
    (date, "a date"),
    (time, "a time"),
)


def _describe(value: object) -> str:
    """A value and its TOML type, for 'expected X, got Y' messages."""
    if isinstance(value, (list, dict)):
        return _show(value)
    kind = next((name for cls, name in _TYPE_NAMES if isinstance(value, cls)), "a value")
    return f"{_show(value)} ({kind})"


def _suggestion(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def _listing(values: Iterable[object]) -> str:
    """'A, B, C', with runs of consecutive integers folded to '1-20'."""
    items = list(values)
    if items and all(isinstance(v, int) for v in items):
        numbers = sorted({v for v in items if isinstance(v, int)})
        runs: list[str] = []
        start = prev = numbers[0]
        for n in [*numbers[1:], None]:
            if n is not None and n == prev + 1:
                prev = n
                continue
            runs.append(str(start) if start == prev else f"{start}-{prev}")
            if n is not None:
                start = prev = n
        return ", ".join(runs)
    return ", ".join(str(v) for v in items)


class _Table:
    """One TOML table under a key path: typed reads that record problems instead of raising."""

    def __init__(
        self,
        raw: Mapping[str, object],
        path: str,
        problems: _Problems,
        known: Sequence[str],
        *,
        position: tuple[int, ...] = (),
        unknown_word: str = "key",
    ) -> None:
        self._raw = raw
        self.path = path
        self.problems = problems
        self._position = position
        self.bad: set[str] = set()
        self._suggested: set[str] = set()  # keys already named by a "did you mean" hint
        for key in raw:
            if key in known:
                continue
            match = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
            if match:
                self._suggested.add(match[0])
                hint = f"; did you mean {match[0]!r}?"
            else:
                hint = f"; allowed here: {', '.join(known)}"
            problems.add(_key_path(path, key), f"unknown {unknown_word}{hint}", self.position(key))

    def key(self, key: str) -> str:
        return _key_path(self.path, key)

    def position(self, key: str) -> tuple[int, ...]:
        """Where ``key`` sits in the document; absent keys sort after the present ones."""
        keys = list(self._raw)
        return (*self._position, keys.index(key) if key in keys else len(keys))

    @property
    def label(self) -> str:
        """The path, with the table's id when it has a usable one: 'services[0] (id "A")'."""
        own_id = self._raw.get("id")
        if isinstance(own_id, str) and "id" not in self.bad:
            return f"{self.path} (id {_show(own_id)})"
        return self.path

    def has(self, key: str) -> bool:
        return key in self._raw

    def raw_value(self, key: str) -> object:
        return self._raw.get(key)

    def ok(self, *keys: str) -> bool:
        """True when none of ``keys`` was recorded as bad (missing, mistyped, out of range)."""
        return not self.bad.intersection(keys)

    def fail(self, key: str, message: str) -> None:
        self.bad.add(key)
        self.problems.add(self.key(key), message, self.position(key))

    def fail_item(self, key: str, index: int, message: str) -> None:
        """A problem with item ``index`` of the list under ``key``."""
        self.bad.add(key)
        self.problems.add(_item_path(self.key(key), index), message, (*self.position(key), index))

    def _fail_missing(self, key: str, message: str) -> None:
        """A misspelt key was already reported with this name as the fix; say it once."""
        if key in self._suggested:
            self.bad.add(key)
        else:
            self.fail(key, message)

    def _read(
        self,
        key: str,
        default: _T | None,
        placeholder: _T,
        expected: str,
        convert: Callable[[object], _T],
        check: Callable[[_T], None] | None,
        missing: str = "",
    ) -> _T:
        if key not in self._raw:
            if default is None:
                self._fail_missing(key, missing or f"required key is missing; expected {expected}")
                return placeholder
            return default
        try:
            value = convert(self._raw[key])
            if check is not None:
                check(value)
        except _Invalid as invalid:
            self.fail(key, str(invalid))
            return placeholder
        return value

    def text(
        self,
        key: str,
        default: str | None = None,
        *,
        check: Callable[[str], None] | None = None,
        hint: str = "",
        missing: str = "",
    ) -> str:
        def convert(value: object) -> str:
            if not isinstance(value, str):
                raise _Invalid(f"expected a string, got {_describe(value)}{hint}")
            return value

        return self._read(key, default, "", "a string", convert, check, missing)

    def ident(self, key: str, *, hint: str = "") -> str:
        """A required identifier that other sections, topics and logs refer to."""
        return self.text(key, check=_identifier, hint=hint)

    def integer(
        self,
        key: str,
        default: int | None = None,
        *,
        check: Callable[[int], None] | None = None,
        missing: str = "",
    ) -> int:
        def convert(value: object) -> int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise _Invalid(f"expected an integer, got {_describe(value)}")
            return value

        return self._read(key, default, 0, "an integer", convert, check, missing)

    def number(
        self,
        key: str,
        default: float | None = None,
        *,
        check: Callable[[float], None] | None = None,
    ) -> float:
        return self._read(key, default, 0.0, "a number", _as_number, check)

    def flag(self, key: str, default: bool) -> bool:
        def convert(value: object) -> bool:
            if not isinstance(value, bool):
                raise _Invalid(f"expected true or false, got {_describe(value)}")
            return value

        return self._read(key, default, default, "true or false", convert, None)

    def clock(self, key: str, default: time) -> time:
        return self._read(key, default, default, 'a time "HH:MM"', _as_clock, None)

    def choice(self, key: str, kind: type[_E], default: _E | None = None) -> _E:
        allowed = [member.value for member in kind]

        def convert(value: object) -> _E:
            word = _as_choice(value, allowed)
            return kind(word)

        first = next(iter(kind))
        return self._read(key, default, first, f"one of {_listing(allowed)}", convert, None)

    def word(self, key: str, allowed: Sequence[str], default: str) -> str:
        """Like ``choice`` for settings the model keeps as plain strings."""
        return self._read(
            key,
            default,
            default,
            f"one of {_listing(allowed)}",
            lambda value: _as_choice(value, allowed),
            None,
        )

    def array(self, key: str) -> list[object] | None:
        """A required list; None (problem recorded) when missing or not a list."""
        if key not in self._raw:
            self._fail_missing(key, "required key is missing; expected a list [...]")
            return None
        value = self._raw[key]
        if not isinstance(value, list):
            self.fail(key, f"expected a list [...], got {_describe(value)}")
            return None
        return value

    def table(self, key: str, known: Sequence[str], *, required: bool = False) -> _Table:
        """A sub-table; an empty one (all defaults) when absent or unusable.

        When the table itself was reported, the stand-in records into a scratch list, so a
        missing [hall] is one problem, not one per required key inside it.
        """
        value = self._raw.get(key)
        if isinstance(value, dict):
            return _Table(value, self.key(key), self.problems, known, position=self.position(key))
        if value is None and not required:
            return _Table({}, self.key(key), self.problems, known, position=self.position(key))
        if value is None:
            self.fail(key, f"required table [{self.key(key)}] is missing")
        else:
            self.fail(key, f"expected a table [{self.key(key)}], got {_describe(value)}")
        return _Table({}, self.key(key), _Problems(self.problems.source), known)

    def array_of_tables(
        self, key: str, known: Sequence[str], *, required: bool = False
    ) -> list[_Table]:
        """The tables of ``[[key]]``; non-table items are reported and skipped."""
        value = self._raw.get(key)
        header = f"[[{self.key(key)}]]"
        if value is None:
            if required:
                self.fail(key, f"required: at least one {header} table")
            return []
        if not isinstance(value, list):
            self.fail(key, f"expected one or more {header} tables, got {_describe(value)}")
            return []
        if not value and required:
            self.fail(key, f"required: at least one {header} table")
        tables: list[_Table] = []
        for index, item in enumerate(value):
            if isinstance(item, dict):
                path = _item_path(self.key(key), index)
                position = (*self.position(key), index)
                tables.append(_Table(item, path, self.problems, known, position=position))
            else:
                self.fail_item(key, index, f"expected a {header} table, got {_describe(item)}")
        return tables


def _as_number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Invalid(f"expected a number, got {_describe(value)}")
    if not math.isfinite(value):
        raise _Invalid(f"expected a finite number, got {_show(value)}")
    return float(value)


def _as_clock(value: object) -> time:
    if isinstance(value, time):  # an unquoted TOML local time such as 17:30:00
        if value.second or value.microsecond or value.tzinfo is not None:
            raise _Invalid(f'expected a time "HH:MM" without seconds, got {_show(value)}')
        return value
    if isinstance(value, str):
        match = _CLOCK.fullmatch(value)
        if match:
            return time(int(match[1]), int(match[2]))
        raise _Invalid(f'expected a time "HH:MM" between "00:00" and "23:59", got {_show(value)}')
    raise _Invalid(f'expected a time "HH:MM" (in quotes), got {_describe(value)}')


def _as_choice(value: object, allowed: Sequence[str]) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected one of {_listing(allowed)}, got {_describe(value)}")
    if value not in allowed:
        hint = _suggestion(value, allowed)
        raise _Invalid(f"unknown value {_show(value)}; expected one of {_listing(allowed)}{hint}")
    return value


def _identifier(value: str) -> None:
    if not _IDENT.fullmatch(value):
        raise _Invalid(f"{_show(value)} is not a valid identifier; use {_IDENT_RULE}")


def _non_empty(value: str) -> None:
    if not value.strip():
        raise _Invalid("must not be empty")


def _short(limit: int) -> Callable[[str], None]:
    """Devices show names and notices in fixed fields (firmware_protocols.mqtt_v1 limits)."""

    def check(value: str) -> None:
        if len(value) > limit:
            raise _Invalid(f"is {len(value)} characters long; at most {limit} fit on the devices")

    return check


def _name(value: str) -> None:
    _non_empty(value)
    _short(64)(value)


def _at_least(low: float) -> Callable[[float], None]:
    def check(value: float) -> None:
        if value < low:
            raise _Invalid(f"must be at least {_show(low)}, got {_show(value)}")

    return check


def _between(low: float, high: float) -> Callable[[float], None]:
    def check(value: float) -> None:
        if not low <= value <= high:
            raise _Invalid(f"must be between {_show(low)} and {_show(high)}, got {_show(value)}")

    return check


def _positive(value: float) -> None:
    if value <= 0:
        raise _Invalid(f"must be greater than 0, got {_show(value)}")


def _item_code(value: str) -> None:
    if value and not _ITEM_CODE.fullmatch(value):
        raise _Invalid(f"事项编码 is 1 to 64 letters or digits, got {_show(value)}")


def uscc_check_character(body: str) -> str:
    """The 18th character of a unified social credit code (GB 32100-2015) for its first 17."""
    total = sum(_USCC_CHARS.index(ch) * w for ch, w in zip(body, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def _uscc(value: str) -> None:
    if len(value) != 18 or any(ch not in _USCC_CHARS for ch in value):
        raise _Invalid(
            f"a unified social credit code is 18 characters of 0-9 and A-Y without I, O, S, V, Z, "
            f"got {_show(value)}"
        )
    expected = uscc_check_character(value[:17])
    if value[17] != expected:
        raise _Invalid(f"{_show(value)} fails its check character (expected {expected!r} last)")


def _optional_url(value: str) -> None:
    if value and not _HTTP_URL.fullmatch(value):
        raise _Invalid(f"expected an http:// or https:// URL, got {_show(value)}")


def _timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise _Invalid(
            f'unknown time zone {_show(value)}; expected an IANA name such as "Asia/Shanghai"'
        ) from None


def _region_code(value: str) -> None:
    if value and not _REGION_CODE.fullmatch(value):
        raise _Invalid(f"expected 6, 9 or 12 digits (行政区划代码), got {_show(value)}")


def _prefix(value: str) -> None:
    if not _PREFIX.fullmatch(value):
        raise _Invalid(
            f'expected 1 to 3 capital letters or digits starting with a letter (e.g. "A"), '
            f"got {_show(value)}"
        )


def _report_duplicates(
    entries: Iterable[tuple[_K, _Table]], key: str, message: Callable[[_K, str], str]
) -> None:
    """Flag every later table that repeats a value an earlier table already uses.

    ``message`` gets the repeated value and the path of the table that used it first.
    """
    first_seen: dict[_K, _Table] = {}
    for value, table in entries:
        if value in first_seen:
            table.fail(key, message(value, first_seen[value].label))
        else:
            first_seen[value] = table


# --------------------------------------------------------------------------- sections


def _hall(t: _Table) -> HallSettings:
    return HallSettings(
        id=t.ident("id"),
        name=t.text("name", check=_name),
        timezone=t.text("timezone", "Asia/Shanghai", check=_timezone),
        region_code=t.text("region_code", "", check=_region_code),
        closing_time=t.clock("closing_time", time(17, 30)),
        leftover=t.choice("leftover", LeftoverPolicy, LeftoverPolicy.EXPIRE),
        notice=t.text("notice", "欢迎光临 热情服务", check=_short(256)),
    )


def _services(tables: list[_Table]) -> list[tuple[Service, _Table]]:
    parsed = [(_service(t), t) for t in tables]
    _report_duplicates(
        ((s.id, t) for s, t in parsed if t.ok("id")),
        "id",
        lambda v, first: f"service id {_show(v)} is already used by {first}",
    )
    _report_duplicates(
        ((s.prefix, t) for s, t in parsed if t.ok("prefix")),
        "prefix",
        lambda v, first: f"ticket prefix {_show(v)} is already used by {first}",
    )
    _report_ambiguous_prefixes([(s.prefix, t) for s, t in parsed if t.ok("prefix")])
    return parsed


def _service(t: _Table) -> Service:
    service_id = t.ident("id")
    name = t.text("name", check=_name)
    prefix = t.text("prefix", check=_prefix)
    number_min = t.integer("number_min", 1, check=_at_least(0))
    number_max = t.integer("number_max", 999, check=_at_least(0))
    number_width = t.integer("number_width", 3, check=_between(1, 6))
    if t.ok("number_min", "number_max") and number_min > number_max:
        t.fail("number_max", f"must not be below number_min ({number_min}), got {number_max}")
    if t.ok("number_max", "number_width") and len(str(number_max)) > number_width:
        t.fail(
            "number_width",
            f"{number_width} digits cannot show number_max {number_max}; "
            f"expected at least {len(str(number_max))}",
        )
    return Service(
        id=service_id,
        name=name,
        prefix=prefix,
        number_min=number_min,
        number_max=number_max,
        number_width=number_width,
        daily_reset=t.clock("daily_reset", time(0, 0)),
        green_channel=t.flag("green_channel", True),
        expected_minutes=t.number("expected_minutes", 10.0, check=_positive),
        item_code=t.text("item_code", "", check=_item_code),
    )


def _report_ambiguous_prefixes(prefixes: list[tuple[str, _Table]]) -> None:
    """'A' and 'A1' make 'A1001' readable two ways; the citizen and the strip would disagree."""
    for index, (longer, table) in enumerate(prefixes):
        for shorter, other in prefixes[:index] + prefixes[index + 1 :]:
            rest = longer[len(shorter) :]
            if len(longer) > len(shorter) and longer.startswith(shorter) and rest.isdigit():
                table.fail(
                    "prefix",
                    f"ticket prefix {_show(longer)} is {_show(shorter)} ({other.path}) followed "
                    f"by digits, so ticket numbers would be ambiguous; choose another prefix",
                )
                break


def _windows(tables: list[_Table], service_ids: Sequence[str]) -> list[tuple[Window, _Table]]:
    parsed = [(_window(t, service_ids), t) for t in tables]
    _report_duplicates(
        ((w.number, t) for w, t in parsed if t.ok("number")),
        "number",
        lambda v, first: f"window number {v} is already used by {first}",
    )
    return parsed


def _window(t: _Table, service_ids: Sequence[str]) -> Window:
    number = t.integer("number", check=_between(1, 9999))
    default_name = f"{number}号窗口" if t.ok("number") else ""
    return Window(
        number=number,
        name=t.text("name", default_name, check=_name),
        services=_window_services(t, service_ids),
        department=t.text("department", "", check=_short(64)),
    )


def _window_services(window: _Table, service_ids: Sequence[str]) -> tuple[WindowService, ...]:
    """``services = ["A", { service = "B", weight = 2 }]``: a bare id means weight 1."""
    items = window.array("services")
    if items is None:
        return ()
    if not items:
        window.fail("services", 'a window must serve at least one service, e.g. services = ["A"]')
    result: list[WindowService] = []
    first_listed: dict[str, str] = {}
    for index, item in enumerate(items):
        entry = _window_service(window, index, item)
        if entry is None:
            continue
        service, report = entry
        result.append(service)
        sid = service.service_id
        if sid not in service_ids:
            defined = _listing(service_ids) or "none"
            report(
                f"unknown service {_show(sid)}; defined services: {defined}"
                f"{_suggestion(sid, service_ids)}"
            )
        elif sid in first_listed:
            report(
                f"service {_show(sid)} is listed twice in this window (also {first_listed[sid]})"
            )
        else:
            first_listed[sid] = _item_path(window.key("services"), index)
    return tuple(result)


def _window_service(
    window: _Table, index: int, item: object
) -> tuple[WindowService, Callable[[str], None]] | None:
    """One entry, and how to report a problem with the service it names; None if unusable."""
    if isinstance(item, str):
        return WindowService(service_id=item), partial(window.fail_item, "services", index)
    if isinstance(item, dict):
        path = _item_path(window.key("services"), index)
        position = (*window.position("services"), index)
        entry = _Table(item, path, window.problems, _WINDOW_SERVICE_KEYS, position=position)
        service = WindowService(
            service_id=entry.text("service"),
            weight=entry.integer("weight", 1, check=_at_least(1)),
        )
        if entry.bad:
            window.bad.add("services")
            return None

        def report(message: str) -> None:
            window.bad.add("services")
            entry.fail("service", message)

        return service, report
    window.fail_item(
        "services",
        index,
        f'expected a service id such as "A" or a table such as '
        f'{{ service = "A", weight = 2 }}, got {_describe(item)}',
    )
    return None


def _staff(tables: list[_Table]) -> list[tuple[Staff, _Table]]:
    quote_hint = '; write 工号 in quotes, e.g. id = "01023", so leading zeros are kept'
    parsed = [
        (
            Staff(
                id=t.ident("id", hint=quote_hint),
                name=t.text("name", check=_name),
                photo=t.text("photo", "", check=_short(512)),
                title=t.text("title", "", check=_short(64)),
            ),
            t,
        )
        for t in tables
    ]
    _report_duplicates(
        ((s.id, t) for s, t in parsed if t.ok("id")),
        "id",
        lambda v, first: f"工号 {_show(v)} is already used by {first}",
    )
    return parsed


def _buses(tables: list[_Table]) -> list[tuple[SerialBus, _Table]]:
    parsed = [(_bus(t), t) for t in tables]
    _report_duplicates(
        ((b.id, t) for b, t in parsed if t.ok("id")),
        "id",
        lambda v, first: f"bus id {_show(v)} is already used by {first}",
    )
    _report_duplicates(
        ((b.port, t) for b, t in parsed if t.ok("port")),
        "port",
        lambda v, first: f"serial port {_show(v)} is already used by {first}",
    )
    return parsed


def _baudrate(value: int) -> None:
    if value not in _STANDARD_BAUDRATES:
        raise _Invalid(
            f"{value} is not a standard baud rate; expected one of {_listing(_STANDARD_BAUDRATES)}"
        )


def _stopbits(value: int) -> None:
    if value not in (1, 2):
        raise _Invalid(f"expected 1 or 2, got {value}")


def _bus(t: _Table) -> SerialBus:
    return SerialBus(
        id=t.ident("id"),
        port=t.text("port", check=_non_empty),
        baudrate=t.integer("baudrate", 9600, check=_baudrate),
        bytesize=t.integer("bytesize", 8, check=_between(5, 8)),
        parity=t.word("parity", _PARITIES, "N"),
        stopbits=t.integer("stopbits", 1, check=_stopbits),
        turnaround_ms=t.number("turnaround_ms", 10.0, check=_between(0, 1000)),
    )


@dataclass(frozen=True, slots=True)
class _Known:
    """What devices may refer to."""

    window_numbers: Sequence[int]
    bus_ids: Sequence[str]
    protocols: Sequence[str] | None


def _devices(tables: list[_Table], known: _Known) -> list[tuple[Device, _Table]]:
    parsed = [(_device(t, known), t) for t in tables]
    _report_duplicates(
        ((d.id, t) for d, t in parsed if t.ok("id")),
        "id",
        lambda v, first: f"device id {_show(v)} is already used by {first}",
    )
    _report_duplicates(
        (
            ((d.serial.bus, d.serial.address), t)
            for d, t in parsed
            if d.serial is not None and t.ok("bus", "address")
        ),
        "address",
        lambda v, first: f"address {v[1]} on bus {_show(v[0])} is already used by {first}",
    )
    _report_duplicates(
        (
            ((d.window, d.kind), t)
            for d, t in parsed
            if d.window is not None and t.ok("window", "kind")
        ),
        "kind",
        lambda v, first: f"window {v[0]} already has {_a(v[1].value)}: {first}",
    )
    return parsed


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def _device(t: _Table, known: _Known) -> Device:
    device_id = t.ident("id")
    kind = t.choice("kind", DeviceKind)
    link = t.choice("link", LinkKind)
    window: int | None = None
    if t.ok("kind") and kind in _WINDOW_KINDS:
        window = t.integer(
            "window",
            check=_at_least(1),
            missing=f"{_a(kind.value)} belongs to one window; expected window = <window number>",
        )
        if t.ok("window") and window not in known.window_numbers:
            defined = _listing(known.window_numbers) or "none"
            t.fail("window", f"unknown window {window}; defined windows: {defined}")
    elif t.ok("kind") and t.has("window"):
        t.fail("window", f"{_a(kind.value)} serves the whole hall, not one window; remove this key")
    serial: SerialLink | None = None
    if t.ok("link") and link is LinkKind.SERIAL:
        needed = 'required for link = "serial"; expected '
        serial = SerialLink(
            bus=t.text("bus", missing=needed + "the id of a [[buses]] table"),
            address=t.integer(
                "address", check=_between(1, 247), missing=needed + "an address 1 to 247"
            ),
            protocol=t.text(
                "protocol", check=_non_empty, missing=needed + "the name of a wire protocol"
            ),
        )
        if t.ok("bus") and serial.bus not in known.bus_ids:
            buses = _listing(known.bus_ids) if known.bus_ids else "none (add a [[buses]] table)"
            t.fail("bus", f"unknown bus {_show(serial.bus)}; defined buses: {buses}")
        names = known.protocols
        if t.ok("protocol") and names is not None and serial.protocol not in names:
            t.fail(
                "protocol",
                f"unknown protocol {_show(serial.protocol)}; known protocols: "
                f"{_listing(names) or 'none'}{_suggestion(serial.protocol, names)}",
            )
    elif t.ok("link"):
        for key in _SERIAL_KEYS:
            if t.has(key):
                t.fail(key, 'only serial devices have this key; this device has link = "mqtt"')
    return Device(id=device_id, kind=kind, link=link, window=window, serial=serial)


def _policy(t: _Table) -> CallingPolicy:
    defaults = CallingPolicy()
    return CallingPolicy(
        priority_order=_priority_order(t, defaults.priority_order),
        fairness_bound_minutes=_fairness_bound(t, defaults.fairness_bound_minutes),
        appointment_early_minutes=t.number(
            "appointment_early_minutes", defaults.appointment_early_minutes, check=_at_least(0)
        ),
        appointment_late_minutes=t.number(
            "appointment_late_minutes", defaults.appointment_late_minutes, check=_at_least(0)
        ),
        max_recalls=t.integer("max_recalls", defaults.max_recalls, check=_between(0, 99)),
        implicit_start=t.flag("implicit_start", defaults.implicit_start),
    )


def _priority_order(t: _Table, default: tuple[PriorityClass, ...]) -> tuple[PriorityClass, ...]:
    if not t.has("priority_order"):
        return default
    items = t.array("priority_order")
    if items is None:
        return default
    allowed = [member.value for member in PriorityClass]
    order: list[PriorityClass] = []
    for index, item in enumerate(items):
        try:
            member = PriorityClass(_as_choice(item, allowed))
        except _Invalid as invalid:
            t.fail_item("priority_order", index, str(invalid))
            continue
        if member in order:
            t.fail_item("priority_order", index, f"{_show(member.value)} is listed twice")
        else:
            order.append(member)
    return tuple(order)


def _fairness_bound(t: _Table, default: float | None) -> float | None:
    """Minutes after which arrival order beats priority classes; ``false`` turns it off."""
    key = "fairness_bound_minutes"
    if not t.has(key):
        return default
    value = t.raw_value(key)
    if value is False:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        t.fail(key, f"expected a number of minutes, or false for no bound, got {_describe(value)}")
        return default
    return t.number(key, check=_positive)


def _evaluation(t: _Table) -> Evaluation:
    return Evaluation(
        window_seconds=t.number("window_seconds", 30.0, check=_between(10, 120)),
        late_delivery_seconds=t.number("late_delivery_seconds", 300.0, check=_between(0, 86400)),
        reasons=_reasons(t),
        follow_up_days=t.integer("follow_up_days", 7, check=_between(0, 366)),
        follow_up_url=t.text("follow_up_url", "", check=_optional_url),
        contact_working_days=t.integer("contact_working_days", 1, check=_between(1, 60)),
        rectify_working_days=t.integer("rectify_working_days", 15, check=_between(1, 120)),
        escalation_webhook=t.text("escalation_webhook", "", check=_optional_url),
        call_webhook=t.text("call_webhook", "", check=_optional_url),
        secrets_file=t.text("secrets_file", ""),
        allow_unsigned_pads=t.flag("allow_unsigned_pads", False),
        holidays=_dates(t, "holidays"),
        adjusted_workdays=_dates(t, "adjusted_workdays"),
        calendar_years=_calendar_years(t),
        disclose_staff=t.flag("disclose_staff", False),
    )


def _appointments(top: _Table, service_ids: Sequence[str]) -> Appointments:
    """``[appointments]`` and its ``[[appointments.services]]`` overrides (线上预约)."""
    present = top.has("appointments")
    t = top.table("appointments", _APPOINTMENT_KEYS)
    defaults = Appointments()
    rules = _slot_rules(t, defaults.rules)
    overrides: list[ServiceBooking] = []
    tables = t.array_of_tables("services", _SERVICE_BOOKING_KEYS)
    for o in tables:
        service = o.text("service", check=_identifier)
        if o.ok("service") and service not in service_ids:
            o.fail("service", f"no service {_show(service)}{_suggestion(service, service_ids)}")
        overrides.append(ServiceBooking(service, o.flag("enabled", True), _slot_rules(o, rules)))
    _report_duplicates(
        ((b.service, o) for b, o in zip(overrides, tables, strict=True) if o.ok("service")),
        "service",
        lambda v, first: f"service {_show(v)} already has its rules in {first}",
    )
    return Appointments(
        enabled=t.flag("enabled", present),
        rules=rules,
        services=tuple(overrides),
        holidays_closed=t.flag("holidays_closed", defaults.holidays_closed),
        no_show_limit=t.integer("no_show_limit", defaults.no_show_limit, check=_between(0, 100)),
        no_show_days=t.integer("no_show_days", defaults.no_show_days, check=_between(1, 366)),
        block_days=t.integer("block_days", defaults.block_days, check=_between(1, 366)),
        per_phone_per_day=t.integer(
            "per_phone_per_day", defaults.per_phone_per_day, check=_between(1, 20)
        ),
        public_per_ip_per_minute=t.integer(
            "public_per_ip_per_minute", defaults.public_per_ip_per_minute, check=_between(1, 10000)
        ),
        late_arrival=t.choice("late_arrival", LateArrival, defaults.late_arrival),
    )


def _slot_rules(t: _Table, inherited: SlotRules) -> SlotRules:
    """Slot length, capacity, horizon, cut-off and day windows; absent keys inherit."""
    slot = t.integer("slot_minutes", inherited.slot_minutes, check=_between(5, 240))
    windows = _day_windows(t, inherited.windows)
    if t.ok("slot_minutes", "windows"):
        for start, end in windows:
            length = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
            if length % slot:
                t.fail(
                    "windows",
                    f"{start:%H:%M}-{end:%H:%M} is not a whole number of {slot}-minute slots",
                )
                break
    return SlotRules(
        slot_minutes=slot,
        capacity=t.integer("capacity", inherited.capacity, check=_between(1, 1000)),
        days_ahead=t.integer("days_ahead", inherited.days_ahead, check=_between(0, 90)),
        cutoff_minutes=t.integer(
            "cutoff_minutes", inherited.cutoff_minutes, check=_between(0, 7 * 24 * 60)
        ),
        windows=windows,
    )


def _day_windows(
    t: _Table, inherited: tuple[tuple[time, time], ...]
) -> tuple[tuple[time, time], ...]:
    """``windows = ["09:00-12:00", "13:30-17:00"]``: in order, not overlapping."""
    if not t.has("windows"):
        return inherited
    items = t.array("windows")
    if items is None:
        return inherited
    out: list[tuple[time, time]] = []
    for index, item in enumerate(items):
        match = _DAY_WINDOW.fullmatch(item) if isinstance(item, str) else None
        if match is None:
            t.fail_item("windows", index, f'expected "HH:MM-HH:MM", got {_show(item)}')
            return inherited
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = time(h1, m1), time(h2, m2)
        if end <= start or (out and start < out[-1][1]):
            t.fail_item("windows", index, f"{_show(item)}: windows go forward without overlap")
            return inherited
        out.append((start, end))
    if not out:
        t.fail("windows", 'at least one window, e.g. ["09:00-12:00"]')
        return inherited
    return tuple(out)


def _reasons(t: _Table) -> tuple[ReasonTag, ...]:
    """``[[evaluation.reasons]]``: the 差评 reason tags pads offer; the defaults when absent."""
    if not t.has("reasons"):
        return DEFAULT_REASON_TAGS
    tables = t.array_of_tables("reasons", _REASON_KEYS, required=True)
    parsed = [
        (
            ReasonTag(
                id=r.ident("id"),
                text=r.text("text", check=_short(32)),
                code=r.text("code", "", check=_short(16)),
            ),
            r,
        )
        for r in tables
    ]
    _report_duplicates(
        ((tag.id, r) for tag, r in parsed if r.ok("id")),
        "id",
        lambda v, first: f"reason id {_show(v)} is already used by {first}",
    )
    if len(parsed) > 16:
        t.fail("reasons", f"a pad shows at most 16 reasons, got {len(parsed)}")
    return tuple(tag for tag, _ in parsed)


def _dates(t: _Table, key: str) -> tuple[date, ...]:
    """A list of days, as TOML dates (2027-01-01) or strings ("2027-01-01")."""
    if not t.has(key):
        return ()
    items = t.array(key)
    if items is None:
        return ()
    days: list[date] = []
    for index, item in enumerate(items):
        day = _as_day(item)
        if day is None:
            t.fail_item(key, index, f"expected a date such as 2027-01-01, got {_describe(item)}")
        else:
            days.append(day)
    return tuple(days)


def _dsn_has_password(dsn: str) -> bool:
    """``postgresql://user:secret@host/db`` or ``...?password=secret``."""
    parts = urlsplit(dsn)
    return bool(parts.password) or "password" in parse_qs(parts.query)


def _calendar_years(t: _Table) -> tuple[int, ...]:
    """Years whose State Council holiday notice the hall typed into ``holidays`` and
    ``adjusted_workdays``: deadlines in them count as official. A notice always names holidays,
    so a year with none listed is a mistake, not a year without holidays."""
    if not t.has("calendar_years"):
        return ()
    items = t.array("calendar_years")
    if items is None:
        return ()
    listed = {day.year for day in _dates(t, "holidays")}
    years: list[int] = []
    for index, item in enumerate(items):
        if not isinstance(item, int) or isinstance(item, bool) or not 2000 <= item <= 2100:
            problem = f"expected a year such as 2027, got {_describe(item)}"
            t.fail_item("calendar_years", index, problem)
        elif item not in listed:
            t.fail_item(
                "calendar_years",
                index,
                f"{item} has no day in holidays: type in that year's State Council notice first",
            )
        else:
            years.append(item)
    return tuple(years)


def _as_day(value: object) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _departments(
    tables: list[_Table], windows: list[tuple[Window, _Table]]
) -> list[tuple[Department, _Table]]:
    parsed = [
        (
            Department(
                id=t.ident("id"), name=t.text("name", check=_name), code=t.text("code", check=_uscc)
            ),
            t,
        )
        for t in tables
    ]
    _report_duplicates(
        ((d.id, t) for d, t in parsed if t.ok("id")),
        "id",
        lambda v, first: f"department id {_show(v)} is already used by {first}",
    )
    _report_duplicates(
        ((d.code, t) for d, t in parsed if t.ok("code")),
        "code",
        lambda v, first: f"unified social credit code {_show(v)} is already used by {first}",
    )
    if parsed:
        known = [d.id for d, _ in parsed] + [d.name for d, _ in parsed]
        for window, table in windows:
            if window.department and table.ok("department") and window.department not in known:
                table.fail(
                    "department",
                    f"unknown department {_show(window.department)}; [[departments]] define "
                    f"{_listing(d.id for d, _ in parsed)} (match by id or name)"
                    f"{_suggestion(window.department, known)}",
                )
    return parsed


def _reportings(top: _Table) -> tuple[Reporting, ...]:
    """``[[reporting]]`` destinations; a single ``[reporting]`` table is one destination."""
    if isinstance(top.raw_value("reporting"), dict):
        tables = [top.table("reporting", _REPORTING_KEYS)]
    else:
        tables = top.array_of_tables("reporting", _REPORTING_KEYS)
    parsed = [(_reporting(t), t) for t in tables]
    _report_duplicates(
        ((r.name, t) for r, t in parsed if r.adapter and t.ok("id", "adapter")),
        "id",
        lambda v, first: (
            f"reporting destination {_show(v)} is already used by {first}; "
            "give each destination of the same adapter its own id"
        ),
    )
    return tuple(r for r, _ in parsed if r.adapter)


def _reporting(t: _Table) -> Reporting:
    adapter = t.text("adapter", "", check=lambda v: _identifier(v) if v else None)
    reporting = Reporting(
        adapter=adapter,
        url=t.text("url", "", check=_optional_url),
        id=t.text("id", "", check=lambda v: _identifier(v) if v else None),
        credentials=t.text("credentials", "", check=lambda v: _identifier(v) if v else None),
        batch_size=t.integer("batch_size", 200, check=_between(1, 5000)),
        timeout_seconds=t.number("timeout_seconds", 10.0, check=_between(0.1, 300)),
        max_backoff_seconds=t.number("max_backoff_seconds", 300.0, check=_between(1, 86400)),
    )
    if adapter and t.ok("adapter", "url") and not reporting.url:
        t.fail(
            "url",
            'a reporting adapter needs the platform\'s url, e.g. "https://hcp.example.gov.cn/api"',
        )
    return reporting


def _store(t: _Table) -> StoreSettings:
    kind = t.word("kind", _STORE_KINDS, "sqlite")
    store = StoreSettings(
        kind=kind,
        path=t.text("path", "hallctl.db", check=_non_empty),
        dsn=t.text("dsn", ""),
        snapshot_every_events=t.integer("snapshot_every_events", 200_000, check=_at_least(1)),
    )
    if t.ok("kind") and kind in _STORE_KINDS_NOT_YET:
        # Never accept a store that is not implemented: the daemon would write somewhere else.
        t.fail("kind", f'"{kind}" is not implemented in this version; use "sqlite"')
    elif t.ok("kind", "dsn") and kind == "postgres" and not _DSN.fullmatch(store.dsn.strip()):
        t.fail("dsn", 'a PostgreSQL store needs its DSN, e.g. "postgresql://hallctl@db:5432/hallctl"')
    elif t.ok("kind", "dsn") and kind == "postgres" and _dsn_has_password(store.dsn.strip()):
        # The configuration text is recorded in the event log: a secret must never be in it.
        t.fail(
            "dsn",
            "holds a password, and the configuration is recorded in the event log: "
            "put it in ~/.pgpass (or PGPASSFILE / PGPASSWORD) instead",
        )
    elif t.ok("kind", "dsn") and kind != "postgres" and store.dsn.strip():
        t.fail("dsn", 'only for kind = "postgres"; an SQLite store is the file named by path')
    return store


def _mqtt(t: _Table) -> MqttSettings:
    if t.has("password"):
        # The configuration text is recorded in the event log: a password would be kept there.
        t.fail(
            "password",
            "the MQTT password is not kept in the configuration (its text is recorded in the "
            "event log); `hallctl broker-config` writes it to the credentials file "
            "(<db>.mqtt-credentials, or [mqtt] credentials_file)",
        )
    mqtt = MqttSettings(
        host=t.text("host", "127.0.0.1", check=_non_empty),
        port=t.integer("port", 1883, check=_between(1, 65535)),
        username=t.text("username", ""),
        login=t.flag("login", True),
        credentials_file=t.text("credentials_file", ""),
        tls=t.flag("tls", False),
        ca_file=t.text("ca_file", ""),
        cert_file=t.text("cert_file", ""),
        key_file=t.text("key_file", ""),
    )
    if t.ok("tls", "ca_file", "cert_file") and not mqtt.tls:
        for key in ("ca_file", "cert_file", "key_file"):
            if getattr(mqtt, key):
                t.fail(key, "only used with tls = true")
    if t.ok("cert_file", "key_file") and bool(mqtt.cert_file) != bool(mqtt.key_file):
        t.fail("key_file" if mqtt.cert_file else "cert_file", "cert_file and key_file go together")
    return mqtt


def _http(t: _Table) -> HttpSettings:
    return HttpSettings(
        host=t.text("host", "127.0.0.1", check=_non_empty),
        port=t.integer("port", 8080, check=_between(1, 65535)),
        public_url=t.text("public_url", "", check=_optional_url).rstrip("/"),
    )

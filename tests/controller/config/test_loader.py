"""The TOML hall configuration: examples load, broken files say exactly what is wrong."""

from __future__ import annotations

import copy
import pickle
import tomllib
from datetime import time
from pathlib import Path
from typing import Any

import pytest

from controller.config.check import check_config_main
from controller.config.errors import ConfigError, ConfigProblem, format_problems
from controller.config.loader import build_config, load_config, parse_config
from controller.config.model import (
    DeviceKind,
    HallConfig,
    LeftoverPolicy,
    LinkKind,
    PriorityClass,
    SerialLink,
    WindowService,
)

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
BROKEN = sorted((EXAMPLES / "broken").glob("*.toml"))

BASE_TOML = """
[hall]
id = "test-hall"
name = "测试大厅"

[[services]]
id = "A"
name = "社保业务"
prefix = "A"

[[services]]
id = "B"
name = "户籍业务"
prefix = "B"

[[windows]]
number = 1
services = ["A", { service = "B", weight = 2 }]

[[windows]]
number = 2
services = ["B"]

[[staff]]
id = "0101"
name = "王丽"

[[buses]]
id = "bus1"
port = "/dev/ttyUSB0"

[[devices]]
id = "w1-caller"
kind = "caller"
link = "serial"
window = 1
bus = "bus1"
address = 3
protocol = "keypad_bus"

[[devices]]
id = "w1-pad"
kind = "evaluator"
link = "mqtt"
window = 1

[[devices]]
id = "kiosk-1"
kind = "kiosk"
link = "mqtt"
"""

Data = dict[str, Any]


@pytest.fixture
def cfg() -> Data:
    """A fresh, valid, parsed configuration to break one key at a time."""
    return tomllib.loads(BASE_TOML)


def problems_of(data: Data) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        build_config(data, "t.toml")
    return [(p.key, p.message) for p in info.value.problems]


def only_problem(data: Data) -> tuple[str, str]:
    found = problems_of(data)
    assert len(found) == 1, found
    return found[0]


def text_problems(text: str) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "t.toml")
    return list(info.value.problems)


# ------------------------------------------------------------------------------ examples


def test_base_config_is_valid(cfg: Data) -> None:
    config = build_config(cfg, "t.toml")
    assert config.source == "t.toml"
    assert config.windows[0].services == (WindowService("A", 1), WindowService("B", 2))
    assert config.windows[0].name == "1号窗口"  # default name
    assert config.devices[0].serial == SerialLink("bus1", 3, "keypad_bus")
    assert config.devices[1].serial is None
    assert config.devices[2].window is None
    assert config.hall.closing_time == time(17, 30)


def test_demo_hall_loads() -> None:
    config = load_config(EXAMPLES / "demo-hall.toml")
    assert config.hall.id == "qingxi-main"
    assert len(config.windows) == 20
    assert {s.prefix for s in config.services} == set("ABCDEFGH")
    window_kinds = {(d.window, d.kind) for d in config.devices if d.window is not None}
    for window in config.windows:
        for kind in (DeviceKind.CALLER, DeviceKind.WINDOW_DISPLAY, DeviceKind.EVALUATOR):
            assert (window.number, kind) in window_kinds
    assert all(d.link is LinkKind.MQTT for d in config.devices)
    kinds = [d.kind for d in config.devices]
    assert kinds.count(DeviceKind.KIOSK) == 3
    assert kinds.count(DeviceKind.HALL_SCREEN) == 1
    comprehensive = config.window(19)
    assert comprehensive is not None and len(comprehensive.services) == 3
    assert all(s.id.isdigit() for s in config.staff)


def test_small_hall_loads_with_a_mixed_window() -> None:
    config = load_config(EXAMPLES / "small-hall.toml")
    assert len(config.windows) == 4
    assert [b.id for b in config.buses] == ["bus1"]
    assert config.buses[0].port == "/dev/ttyUSB0" and config.buses[0].baudrate == 9600
    window3 = {d.kind: d for d in config.devices if d.window == 3}
    assert window3[DeviceKind.CALLER].serial == SerialLink("bus1", 3, "keypad_bus")
    assert window3[DeviceKind.WINDOW_DISPLAY].link is LinkKind.SERIAL
    assert window3[DeviceKind.EVALUATOR].link is LinkKind.MQTT


def test_every_broken_example_has_expected_text() -> None:
    assert len(BROKEN) >= 6
    for path in BROKEN:
        assert path.with_suffix(".expected").is_file(), path


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_example_prints_exactly_expected_text(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    relative = path.relative_to(REPO).as_posix()
    assert check_config_main(relative) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == path.with_suffix(".expected").read_text(encoding="utf-8")


def test_three_mistakes_are_all_reported() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(EXAMPLES / "broken" / "three-mistakes.toml")
    assert [p.key for p in info.value.problems] == [
        "windows[1].services[0]",
        "devices[0].window",
        "evaluation.window_seconds",
    ]


def test_check_config_prints_summary_for_valid_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_config_main(str(EXAMPLES / "small-hall.toml")) == 0
    out, err = capsys.readouterr()
    assert out == "OK: hall 'baishi-town': 3 services, 4 windows, 11 devices\n"
    assert err == ""


# ------------------------------------------------------------------------------ files and syntax


def test_missing_file_is_one_problem(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    (problem,) = info.value.problems
    assert problem.file == str(missing) and problem.key == ""
    assert "cannot read the file: No such file or directory" in problem.message
    assert str(problem) == f"{missing}: cannot read the file: No such file or directory"


def test_gbk_file_is_rejected_with_line(tmp_path: Path) -> None:
    path = tmp_path / "gbk.toml"
    path.write_bytes(BASE_TOML.encode("gbk"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert "not UTF-8" in problem.message
    assert problem.line == 4  # name = "测试大厅"
    assert str(problem).startswith(f"{path}: line 4: ")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE_TOML.encode())
    assert load_config(path).hall.name == "测试大厅"


def test_syntax_error_names_line_and_column() -> None:
    (problem,) = text_problems('[hall]\nid = "x"\nname = 大厅\n')
    assert (problem.line, problem.column) == (3, 8)
    assert problem.message.startswith("TOML syntax error: Invalid value (text needs quotes")
    assert str(problem).startswith("t.toml: line 3, column 8: TOML syntax error")


def test_syntax_error_at_end_of_file() -> None:
    (problem,) = text_problems('[hall]\nname = """never closed')
    assert (problem.key, problem.line) == ("", None)
    assert problem.message == "TOML syntax error at the end of the file: Unterminated string"
    assert str(problem) == "t.toml: TOML syntax error at the end of the file: Unterminated string"


def test_key_set_twice_is_a_syntax_error() -> None:
    (problem,) = text_problems('[hall]\nid = "a"\nid = "b"\n')
    assert "a key is set twice" in problem.message


# ------------------------------------------------------------------------------ keys and types


def test_missing_required_key(cfg: Data) -> None:
    del cfg["hall"]["id"]
    assert only_problem(cfg) == ("hall.id", "required key is missing; expected a string")


def test_missing_hall_table_is_one_problem(cfg: Data) -> None:
    del cfg["hall"]
    assert only_problem(cfg) == ("hall", "required table [hall] is missing")


def test_missing_windows(cfg: Data) -> None:
    del cfg["windows"]
    del cfg["devices"]
    assert only_problem(cfg) == ("windows", "required: at least one [[windows]] table")


def test_section_of_wrong_shape(cfg: Data) -> None:
    cfg["services"] = {"id": "A"}
    key, message = problems_of(cfg)[0]
    assert key == "services"
    assert message == "expected one or more [[services]] tables, got a table"


def test_wrong_type(cfg: Data) -> None:
    cfg["services"][0]["number_max"] = "999"
    assert only_problem(cfg) == (
        "services[0].number_max",
        'expected an integer, got "999" (a string)',
    )


def test_boolean_is_not_an_integer(cfg: Data) -> None:
    cfg["windows"][1]["number"] = True
    key, message = problems_of(cfg)[0]
    assert (key, message) == ("windows[1].number", "expected an integer, got true (a boolean)")


def test_staff_id_as_number_hints_at_quotes(cfg: Data) -> None:
    cfg["staff"][0]["id"] = 101
    key, message = only_problem(cfg)
    assert key == "staff[0].id"
    assert message.startswith("expected a string, got 101 (an integer); write 工号 in quotes")


def test_unknown_key_suggests_the_close_one_and_only_once(cfg: Data) -> None:
    cfg["services"][1]["prefx"] = cfg["services"][1].pop("prefix")
    assert only_problem(cfg) == ("services[1].prefx", "unknown key; did you mean 'prefix'?")


def test_unknown_key_without_close_match_lists_allowed(cfg: Data) -> None:
    cfg["staff"][0]["colour"] = "red"
    assert only_problem(cfg) == (
        "staff[0].colour",
        "unknown key; allowed here: id, name, photo, title",
    )


def test_unknown_section_suggests(cfg: Data) -> None:
    cfg["evalution"] = {"window_seconds": 20}
    assert only_problem(cfg) == ("evalution", "unknown section; did you mean 'evaluation'?")


def test_odd_key_is_quoted_in_path(cfg: Data) -> None:
    cfg["hall"]["na me\n"] = "x"
    key, _ = only_problem(cfg)
    assert key == 'hall."na me\\n"'


def test_non_finite_number_rejected(cfg: Data) -> None:
    cfg["services"][0]["expected_minutes"] = float("nan")
    assert only_problem(cfg) == (
        "services[0].expected_minutes",
        "expected a finite number, got nan",
    )


def test_identifier_rule(cfg: Data) -> None:
    cfg["hall"]["id"] = "main hall/1"
    key, message = only_problem(cfg)
    assert key == "hall.id" and "letters, digits, '-' or '_'" in message


def test_name_too_long_for_devices(cfg: Data) -> None:
    cfg["windows"][0]["name"] = "窗" * 65
    key, message = only_problem(cfg)
    assert key == "windows[0].name" and "at most 64" in message


def test_empty_name(cfg: Data) -> None:
    cfg["services"][0]["name"] = "  "
    assert only_problem(cfg) == ("services[0].name", "must not be empty")


# ------------------------------------------------------------------------------ duplicates


@pytest.mark.parametrize(
    ("section", "index", "field", "value", "expected"),
    [
        ("services", 1, "id", "A", 'service id "A" is already used by services[0] (id "A")'),
        ("services", 1, "prefix", "A", 'ticket prefix "A" is already used by services[0]'),
        ("windows", 1, "number", 1, "window number 1 is already used by windows[0]"),
        ("devices", 1, "id", "w1-caller", 'device id "w1-caller" is already used by devices[0]'),
    ],
)
def test_duplicates(
    cfg: Data, section: str, index: int, field: str, value: object, expected: str
) -> None:
    cfg[section][index][field] = value
    found = problems_of(cfg)
    assert (f"{section}[{index}].{field}", expected) in [
        (k, m[: len(expected)]) for k, m in found
    ], found


def test_duplicate_staff_id(cfg: Data) -> None:
    cfg["staff"].append({"id": "0101", "name": "李强"})
    assert only_problem(cfg) == (
        "staff[1].id",
        '工号 "0101" is already used by staff[0] (id "0101")',
    )


def test_duplicate_bus_id_and_port(cfg: Data) -> None:
    cfg["buses"].append({"id": "bus1", "port": "/dev/ttyUSB0"})
    assert problems_of(cfg) == [
        ("buses[1].id", 'bus id "bus1" is already used by buses[0] (id "bus1")'),
        ("buses[1].port", 'serial port "/dev/ttyUSB0" is already used by buses[0] (id "bus1")'),
    ]


def test_ambiguous_prefixes(cfg: Data) -> None:
    cfg["services"][1]["prefix"] = "A1"
    key, message = only_problem(cfg)
    assert key == "services[1].prefix"
    assert '"A1" is "A" (services[0]) followed by digits' in message


def test_prefix_shape(cfg: Data) -> None:
    cfg["services"][1]["prefix"] = "b"
    key, message = only_problem(cfg)
    assert key == "services[1].prefix" and "capital letters" in message


# ------------------------------------------------------------------------------ references


def test_unknown_window_service(cfg: Data) -> None:
    cfg["windows"][1]["services"] = ["X"]
    assert only_problem(cfg) == (
        "windows[1].services[0]",
        'unknown service "X"; defined services: A, B',
    )


def test_unknown_window_service_in_table_form_points_at_service_key(cfg: Data) -> None:
    cfg["windows"][0]["services"][1]["service"] = "b"
    assert only_problem(cfg) == (
        "windows[0].services[1].service",
        'unknown service "b"; defined services: A, B',
    )


def test_window_service_listed_twice(cfg: Data) -> None:
    cfg["windows"][1]["services"] = ["B", {"service": "B", "weight": 3}]
    assert only_problem(cfg) == (
        "windows[1].services[1].service",
        'service "B" is listed twice in this window (also windows[1].services[0])',
    )


def test_window_service_entry_of_wrong_type(cfg: Data) -> None:
    cfg["windows"][1]["services"] = [7]
    key, message = only_problem(cfg)
    assert key == "windows[1].services[0]"
    assert message.startswith('expected a service id such as "A" or a table')


def test_window_without_services(cfg: Data) -> None:
    cfg["windows"][1]["services"] = []
    key, message = only_problem(cfg)
    assert key == "windows[1].services" and "at least one service" in message


def test_weight_at_least_one(cfg: Data) -> None:
    cfg["windows"][0]["services"][1]["weight"] = 0
    assert only_problem(cfg) == ("windows[0].services[1].weight", "must be at least 1, got 0")


def test_device_unknown_window(cfg: Data) -> None:
    cfg["devices"][1]["window"] = 9
    assert only_problem(cfg) == ("devices[1].window", "unknown window 9; defined windows: 1-2")


def test_device_unknown_bus(cfg: Data) -> None:
    cfg["devices"][0]["bus"] = "bus2"
    assert only_problem(cfg) == ("devices[0].bus", 'unknown bus "bus2"; defined buses: bus1')


def test_device_bus_without_any_buses(cfg: Data) -> None:
    del cfg["buses"]
    key, message = only_problem(cfg)
    assert key == "devices[0].bus" and "add a [[buses]] table" in message


@pytest.mark.parametrize("address", [0, 248])
def test_address_range(cfg: Data, address: int) -> None:
    cfg["devices"][0]["address"] = address
    assert only_problem(cfg) == (
        "devices[0].address",
        f"must be between 1 and 247, got {address}",
    )


def test_address_unique_per_bus(cfg: Data) -> None:
    serial = {"link": "serial", "bus": "bus1", "address": 3, "protocol": "led_strip"}
    cfg["devices"].append({"id": "w2-led", "kind": "window_display", "window": 2, **serial})
    assert only_problem(cfg) == (
        "devices[3].address",
        'address 3 on bus "bus1" is already used by devices[0] (id "w1-caller")',
    )


def test_same_address_on_another_bus_is_fine(cfg: Data) -> None:
    cfg["buses"].append({"id": "bus2", "port": "/dev/ttyUSB1"})
    serial = {"link": "serial", "bus": "bus2", "address": 3, "protocol": "led_strip"}
    cfg["devices"].append({"id": "w2-led", "kind": "window_display", "window": 2, **serial})
    assert len(build_config(cfg).devices) == 4


def test_protocol_must_not_be_empty(cfg: Data) -> None:
    cfg["devices"][0]["protocol"] = ""
    assert only_problem(cfg) == ("devices[0].protocol", "must not be empty")


def test_protocol_checked_against_known_names_when_given(cfg: Data) -> None:
    names = {"keypad_bus", "led_strip"}
    assert build_config(cfg, protocols=names).devices[0].serial is not None
    cfg["devices"][0]["protocol"] = "keypad-bus"
    assert build_config(cfg).devices[0].serial == SerialLink("bus1", 3, "keypad-bus")
    with pytest.raises(ConfigError) as info:
        build_config(cfg, "t.toml", protocols=names)
    (problem,) = info.value.problems
    assert (problem.key, problem.message) == (
        "devices[0].protocol",
        'unknown protocol "keypad-bus"; known protocols: keypad_bus, led_strip; '
        "did you mean 'keypad_bus'?",
    )


def test_serial_device_needs_bus_address_protocol(cfg: Data) -> None:
    for key in ("bus", "address", "protocol"):
        del cfg["devices"][0][key]
    found = problems_of(cfg)
    assert [k for k, _ in found] == ["devices[0].bus", "devices[0].address", "devices[0].protocol"]
    assert all(m.startswith('required for link = "serial"') for _, m in found)


def test_mqtt_device_has_no_serial_keys(cfg: Data) -> None:
    cfg["devices"][1]["bus"] = "bus1"
    cfg["devices"][1]["address"] = 4
    found = problems_of(cfg)
    message = 'only serial devices have this key; this device has link = "mqtt"'
    assert found == [("devices[1].bus", message), ("devices[1].address", message)]


def test_window_device_needs_window(cfg: Data) -> None:
    del cfg["devices"][1]["window"]
    assert only_problem(cfg) == (
        "devices[1].window",
        "an evaluator belongs to one window; expected window = <window number>",
    )


def test_hall_device_has_no_window(cfg: Data) -> None:
    cfg["devices"][2]["window"] = 1
    key, message = only_problem(cfg)
    assert key == "devices[2].window" and "serves the whole hall" in message


def test_one_device_of_each_kind_per_window(cfg: Data) -> None:
    cfg["devices"].append({"id": "w1-pad-2", "kind": "evaluator", "link": "mqtt", "window": 1})
    assert only_problem(cfg) == (
        "devices[3].kind",
        'window 1 already has an evaluator: devices[1] (id "w1-pad")',
    )


def test_unknown_device_kind_suggests(cfg: Data) -> None:
    cfg["devices"][2]["kind"] = "kiosc"
    key, message = only_problem(cfg)
    assert key == "devices[2].kind"
    assert message.startswith('unknown value "kiosc"; expected one of kiosk, caller')
    assert message.endswith("did you mean 'kiosk'?")


def test_unknown_link(cfg: Data) -> None:
    cfg["devices"][2]["link"] = "wifi"
    key, message = only_problem(cfg)
    assert key == "devices[2].link" and "expected one of mqtt, serial" in message


# ------------------------------------------------------------------------------ ranges and values


def test_number_min_above_max(cfg: Data) -> None:
    cfg["services"][0]["number_min"] = 500
    cfg["services"][0]["number_max"] = 100
    assert only_problem(cfg) == (
        "services[0].number_max",
        "must not be below number_min (500), got 100",
    )


def test_width_must_fit_max(cfg: Data) -> None:
    cfg["services"][0]["number_max"] = 9999
    assert only_problem(cfg) == (
        "services[0].number_width",
        "3 digits cannot show number_max 9999; expected at least 4",
    )


@pytest.mark.parametrize("value", ["5:30pm", "24:00", "17:60", "1730", ""])
def test_bad_times(cfg: Data, value: str) -> None:
    cfg["hall"]["closing_time"] = value
    key, message = only_problem(cfg)
    assert key == "hall.closing_time" and message.startswith('expected a time "HH:MM"')


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("8:30", time(8, 30)),
        ("00:00", time(0, 0)),
        ("23:59", time(23, 59)),
        (time(17, 0), time(17, 0)),
    ],
)
def test_good_times(cfg: Data, value: object, expected: time) -> None:
    cfg["hall"]["closing_time"] = value
    assert build_config(cfg).hall.closing_time == expected


def test_toml_time_with_seconds_rejected(cfg: Data) -> None:
    cfg["services"][0]["daily_reset"] = time(0, 0, 30)
    key, message = only_problem(cfg)
    assert key == "services[0].daily_reset" and "without seconds" in message


def test_timezone(cfg: Data) -> None:
    cfg["hall"]["timezone"] = "Asia/Beijing"
    key, message = only_problem(cfg)
    assert key == "hall.timezone" and message.startswith('unknown time zone "Asia/Beijing"')
    cfg["hall"]["timezone"] = "Asia"  # a directory of zones, not a zone
    assert only_problem(cfg)[0] == "hall.timezone"
    cfg["hall"]["timezone"] = "UTC"
    assert build_config(cfg).hall.timezone == "UTC"


def test_region_code(cfg: Data) -> None:
    cfg["hall"]["region_code"] = "33010"
    assert only_problem(cfg)[0] == "hall.region_code"
    cfg["hall"]["region_code"] = "330100"
    assert build_config(cfg).hall.region_code == "330100"


def test_leftover(cfg: Data) -> None:
    cfg["hall"]["leftover"] = "carry_over"
    assert build_config(cfg).hall.leftover is LeftoverPolicy.CARRY_OVER
    cfg["hall"]["leftover"] = "keep"
    key, message = only_problem(cfg)
    assert key == "hall.leftover" and "expected one of expire, carry_over" in message


def test_priority_order(cfg: Data) -> None:
    cfg["policy"] = {"priority_order": ["green_channel", "vip", "green_channel"]}
    assert problems_of(cfg) == [
        (
            "policy.priority_order[1]",
            'unknown value "vip"; expected one of green_channel, appointment, transfer',
        ),
        ("policy.priority_order[2]", '"green_channel" is listed twice'),
    ]
    cfg["policy"] = {"priority_order": ["appointment"]}
    assert build_config(cfg).policy.priority_order == (PriorityClass.APPOINTMENT,)
    cfg["policy"] = {"priority_order": []}
    assert build_config(cfg).policy.priority_order == ()


def test_fairness_bound(cfg: Data) -> None:
    cfg["policy"] = {"fairness_bound_minutes": False}
    assert build_config(cfg).policy.fairness_bound_minutes is None
    cfg["policy"] = {"fairness_bound_minutes": 45}
    assert build_config(cfg).policy.fairness_bound_minutes == 45.0
    for bad in (True, 0, "30"):
        cfg["policy"] = {"fairness_bound_minutes": bad}
        assert only_problem(cfg)[0] == "policy.fairness_bound_minutes"


def test_max_recalls_range(cfg: Data) -> None:
    cfg["policy"] = {"max_recalls": -1}
    assert only_problem(cfg) == ("policy.max_recalls", "must be between 0 and 99, got -1")


@pytest.mark.parametrize(("seconds", "ok"), [(9, False), (10, True), (120, True), (120.5, False)])
def test_evaluation_window(cfg: Data, seconds: float, ok: bool) -> None:
    cfg["evaluation"] = {"window_seconds": seconds}
    if ok:
        assert build_config(cfg).evaluation.window_seconds == seconds
    else:
        assert only_problem(cfg)[0] == "evaluation.window_seconds"


def test_a_postgres_store_needs_its_dsn(cfg: Data) -> None:
    cfg["store"] = {"kind": "postgres", "dsn": "postgresql://hall@db/hallctl"}
    store = build_config(cfg).store
    assert (store.kind, store.dsn) == ("postgres", "postgresql://hall@db/hallctl")
    for dsn in ("", "   ", "db:5432", "mysql://hall@db/x"):
        cfg["store"] = {"kind": "postgres", "dsn": dsn}
        key, message = only_problem(cfg)
        assert key == "store.dsn" and "needs its DSN" in message


def test_a_dsn_without_postgres_is_refused_not_ignored(cfg: Data) -> None:
    """A DSN on an SQLite store would be silently unused: refuse it, naming the key."""
    cfg["store"] = {"dsn": "postgresql://hall@db/hallctl"}
    key, message = only_problem(cfg)
    assert key == "store.dsn" and 'only for kind = "postgres"' in message
    cfg["store"] = {"kind": "sqlite"}
    assert build_config(cfg).store.kind == "sqlite"


def test_an_unknown_store_kind_is_refused_by_name(cfg: Data) -> None:
    cfg["store"] = {"kind": "mysql"}
    assert only_problem(cfg)[0] == "store.kind"


def test_bus_line_settings(cfg: Data) -> None:
    cfg["buses"][0].update(baudrate=96000, parity="X", stopbits=3, bytesize=9)
    assert [k for k, _ in problems_of(cfg)] == [  # in the order the keys were written
        "buses[0].baudrate",
        "buses[0].parity",
        "buses[0].stopbits",
        "buses[0].bytesize",
    ]


@pytest.mark.parametrize("section", ["mqtt", "http"])
def test_ports(cfg: Data, section: str) -> None:
    cfg[section] = {"port": 70000}
    assert only_problem(cfg) == (f"{section}.port", "must be between 1 and 65535, got 70000")


def test_staff_photo_kept_as_written(cfg: Data) -> None:
    cfg["staff"][0]["photo"] = "photos/0101.jpg"
    assert build_config(cfg).staff[0].photo == "photos/0101.jpg"


# ------------------------------------------------------------------------------ reporting


def test_problems_come_in_file_order(cfg: Data) -> None:
    cfg["devices"][1]["window"] = 9  # found while reading devices
    cfg["services"][1]["prefix"] = "A"  # found by the duplicate pass after all services
    cfg["hall"]["closing_time"] = "late"
    assert [k for k, _ in problems_of(cfg)] == [
        "hall.closing_time",
        "services[1].prefix",
        "devices[1].window",
    ]


def test_format_problems_one_line_each() -> None:
    error = ConfigError(
        [
            ConfigProblem("h.toml", "services[0].prefix", "must not be empty"),
            ConfigProblem("h.toml", "", "TOML syntax error: x", line=3, column=7),
        ]
    )
    assert format_problems(error) == (
        "h.toml: services[0].prefix: must not be empty\n"
        "h.toml: line 3, column 7: TOML syntax error: x"
    )
    assert str(error) == format_problems(error)


def test_config_error_needs_a_problem_and_pickles() -> None:
    with pytest.raises(ValueError):
        ConfigError([])
    error = ConfigError([ConfigProblem("h.toml", "hall.id", "bad")])
    copy_ = pickle.loads(pickle.dumps(error))
    assert copy_.problems == error.problems


def test_valid_config_is_not_changed_by_loading(cfg: Data) -> None:
    before = copy.deepcopy(cfg)
    assert isinstance(build_config(cfg), HallConfig)
    assert cfg == before


def test_check_config_with_protocol_names(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(EXAMPLES / "small-hall.toml")
    assert check_config_main(path, protocols={"keypad_bus"}) == 1
    _, err = capsys.readouterr()
    assert err == (
        f'{path}: devices[7].protocol: unknown protocol "led_strip"; known protocols: keypad_bus\n'
    )


def test_reference_documents_every_key() -> None:
    """docs/configuration.md is the staff's reference; a key missing there is a doc bug."""
    from controller.config import loader

    doc = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    sections = {
        "[hall]": loader._HALL_KEYS,
        "[[services]]": loader._SERVICE_KEYS,
        "[[windows]]": loader._WINDOW_KEYS,
        "[[staff]]": loader._STAFF_KEYS,
        "[[departments]]": loader._DEPARTMENT_KEYS,
        "[[buses]]": loader._BUS_KEYS,
        "[[devices]]": loader._DEVICE_KEYS,
        "[policy]": loader._POLICY_KEYS,
        "[evaluation]": loader._EVALUATION_KEYS,
        "[store]": loader._STORE_KEYS,
        "[mqtt]": loader._MQTT_KEYS,
        "[http]": loader._HTTP_KEYS,
        "[reporting]": loader._REPORTING_KEYS,
        "[appointments]": loader._APPOINTMENT_KEYS,
    }
    assert {heading.strip("[]") for heading in sections} == set(loader._TOP_KEYS)
    parts = doc.split("\n### ")
    for heading, keys in sections.items():
        (part,) = [p for p in parts if p.startswith(heading + "\n")]
        for key in keys:
            assert f"\n| `{key}` |" in part, (heading, key)


def test_calendar_years_need_the_typed_in_notice(cfg: Data) -> None:
    cfg["evaluation"] = {"holidays": ["2027-01-01"], "calendar_years": [2027]}
    assert build_config(cfg).evaluation.calendar_years == (2027,)
    cfg["evaluation"] = {"holidays": ["2027-01-01"], "calendar_years": [2028]}
    key, message = only_problem(cfg)
    assert key == "evaluation.calendar_years[0]" and "2028 has no day in holidays" in message
    cfg["evaluation"] = {"calendar_years": ["2027"]}
    key, message = only_problem(cfg)
    assert key == "evaluation.calendar_years[0]" and "expected a year" in message


def test_a_dsn_with_a_password_is_refused_since_the_config_is_logged(cfg: Data) -> None:
    for dsn in ("postgresql://hall:secret@db/hallctl", "postgresql://hall@db/hallctl?password=x"):
        cfg["store"] = {"kind": "postgres", "dsn": dsn}
        key, message = only_problem(cfg)
        assert key == "store.dsn" and "~/.pgpass" in message and "secret" not in message


def test_appointments_are_off_without_their_table(cfg: Data) -> None:
    assert build_config(cfg).appointments.rules_for(cfg["services"][0]["id"]) is None


def test_appointments_with_a_per_service_override(cfg: Data) -> None:
    first, second = cfg["services"][0]["id"], cfg["services"][1]["id"]
    cfg["appointments"] = {
        "capacity": 4,
        "windows": ["08:30-12:00"],
        "services": [{"service": first, "slot_minutes": 15, "capacity": 2}],
    }
    settings = build_config(cfg).appointments
    own, shared = settings.rules_for(first), settings.rules_for(second)
    assert own is not None and shared is not None
    assert (own.slot_minutes, own.capacity, own.windows) == (15, 2, shared.windows)
    assert (shared.slot_minutes, shared.capacity) == (30, 4)
    cfg["appointments"]["services"][0]["enabled"] = False
    assert build_config(cfg).appointments.rules_for(first) is None


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ({"capacity": 0}, "appointments.capacity", "between 1 and 1000"),
        ({"windows": ["9-12"]}, "appointments.windows[0]", '"HH:MM-HH:MM"'),
        ({"windows": ["13:00-17:00", "09:00-12:00"]}, "appointments.windows[1]", "overlap"),
        ({"windows": ["09:00-11:50"]}, "appointments.windows", "whole number of 30-minute"),
        ({"services": [{"service": "nope"}]}, "appointments.services[0].service", "no service"),
        ({"late_arrival": "later"}, "appointments.late_arrival", "ordinary"),
        ({"capasity": 3}, "appointments.capasity", "did you mean 'capacity'"),
    ],
)
def test_bad_appointment_settings_are_named(
    cfg: Data, table: dict[str, Any], key: str, message: str
) -> None:
    cfg["appointments"] = table
    found_key, found = only_problem(cfg)
    assert found_key == key and message in found

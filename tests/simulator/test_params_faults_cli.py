"""Bad parameters, fault specs and command lines get clear typed errors; good ones parse."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from firmware_protocols.mqtt_v1 import RatingLevel
from simulator.cli import format_report, parse_broker, register_simulate_command
from simulator.clock import SimClock, child_rng
from simulator.faults import Fault, FaultError, FaultKind
from simulator.params import DEFAULT_RATINGS, ParamsError, SimParams


@pytest.mark.parametrize(
    "kwargs",
    [
        {"arrivals_per_hour": -1},
        {"service_rates": {"A": -0.5}},
        {"day_curve": (1.0,) * 23},
        {"day_curve": (-1.0,) + (1.0,) * 23},
        {"start_hour": 24},
        {"no_show": 1.5},
        {"never_rate": -0.1},
        {"walk_seconds": (10.0, 5.0)},
        {"patience_seconds": 0},
        {"ratings": {RatingLevel.SATISFIED: 0.0}},
        {"kiosk_paper": -1},
    ],
)
def test_bad_params_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ParamsError):
        SimParams(**kwargs)  # type: ignore[arg-type]


def test_rates_and_curve() -> None:
    params = SimParams(arrivals_per_hour=10, service_rates={"A": 30})
    assert (params.rate_for("A"), params.rate_for("B")) == (30, 10)
    assert params.curve_at(9.5) == params.day_curve[9]
    assert params.curve_at(23.9) == 0
    assert sum(DEFAULT_RATINGS.values()) == pytest.approx(1.0)


def test_clock_compresses_time_and_rejects_nonsense() -> None:
    clock = SimClock(60, start_hour=9)
    assert clock.real(120) == 2.0 and clock.real(-5) == 0.0
    assert clock.now() == 0.0 and clock.hour() == 9.0
    with pytest.raises(ValueError):
        SimClock(0)
    with pytest.raises(ValueError):
        SimClock(1, start_hour=25)


def test_child_streams_are_reproducible_and_independent() -> None:
    assert child_rng(1, "a").random() == child_rng(1, "a").random()
    assert child_rng(1, "a").random() != child_rng(1, "b").random()
    assert child_rng(1, "a").random() != child_rng(2, "a").random()


def test_fault_specs_parse() -> None:
    assert Fault.parse("drop:w03-pad@10+5") == Fault(FaultKind.DROP, 10.0, "w03-pad", 5.0)
    assert Fault.parse("paper_out:kiosk-1@2.5") == Fault(FaultKind.PAPER_OUT, 2.5, "kiosk-1")
    assert Fault.parse("broker_restart@7") == Fault(FaultKind.BROKER_RESTART, 7.0)


@pytest.mark.parametrize(
    "spec",
    ["drop:w1@", "melt:w1@3", "drop@3", "broker_restart:w1@3", "drop:w1@-1", "drop:bad id@1"],
)
def test_bad_fault_specs_are_refused(spec: str) -> None:
    with pytest.raises(FaultError):
        Fault.parse(spec)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="hallctl")
    register_simulate_command(root.add_subparsers(dest="command", required=True))
    return root


def test_simulate_command_line() -> None:
    argv = "simulate --config h.toml --broker 10.0.0.5:1884 --speed 120 --seed 4 --json"
    args = parser().parse_args([*argv.split(), "--fault", "drop:w1-caller@3+2"])
    assert (args.broker, args.speed, args.seed, args.json) == (("10.0.0.5", 1884), 120.0, 4, True)
    assert args.duration == 30.0
    assert args.fault == [Fault(FaultKind.DROP, 3.0, "w1-caller", 2.0)]


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate"],
        ["simulate", "--config", "h.toml", "--broker", "nohost"],
        ["simulate", "--config", "h.toml", "--speed", "0"],
        ["simulate", "--config", "h.toml", "--duration", "abc"],
        ["simulate", "--config", "h.toml", "--fault", "melt:x@1"],
    ],
)
def test_bad_command_lines_exit_with_usage(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parser().parse_args(argv)
    assert exc.value.code == 2


def test_parse_broker_rejects_bad_ports() -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_broker("host:99999")


def test_a_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["simulate", "--config", str(tmp_path / "none.toml")])
    assert args.func(args) == 2
    assert "cannot read the file" in capsys.readouterr().err


def test_report_text_lists_violations_and_open_tickets() -> None:
    data = {
        "hall": "t",
        "duration_s": 3.0,
        "simulated_minutes": 30.0,
        "speed": 600.0,
        "seed": 1,
        "summary": {"tickets_issued": 3},
        "open_tickets": {"A": 2},
        "faults": [{"kind": "drop", "target": "w1-caller", "at_s": 1.0}],
        "violations": [{"kind": "rating_lost", "subject": "w1-pad", "detail": "r-1"}],
    }
    text = format_report(json.loads(json.dumps(data)))
    assert "tickets_issued=3" in text and "{'A': 2}" in text
    assert "rating_lost w1-pad: r-1" in text and "drop w1-caller" in text

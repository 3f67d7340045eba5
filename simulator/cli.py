"""``hallctl simulate``: run the simulator against a broker from the command line.

Registered by ``controller.cli.hallctl`` through ``register_simulate_command``; exit status 0 when
the checker found no violation, 1 when it did, 2 for bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from devices.mqtt.tls import client_context
from simulator.faults import Fault, FaultError
from simulator.params import ParamsError, SimParams


def parse_broker(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def parse_fault(value: str) -> Fault:
    try:
        return Fault.parse(value)
    except FaultError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value!r}")
    return number


def register_simulate_command(subparsers: Any) -> None:
    """Add ``simulate`` to ``hallctl``'s sub-commands."""
    sim = subparsers.add_parser(
        "simulate", help="play a hall's MQTT devices and people against a broker"
    )
    sim.add_argument("--config", required=True, help="hall TOML")
    sim.add_argument(
        "--broker", type=parse_broker, help="HOST:PORT (default: [mqtt] of the hall config)"
    )
    sim.add_argument("--duration", type=_positive, default=30.0, help="real seconds (30)")
    sim.add_argument(
        "--speed", type=_positive, default=60.0, help="simulated seconds per real second (60)"
    )
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--rate", type=float, help="arrivals per hour per service (12)")
    sim.add_argument("--start-hour", type=float, help="hall time when the run starts (9.0)")
    sim.add_argument(
        "--fault",
        type=parse_fault,
        action="append",
        default=[],
        help="KIND:DEVICE@AT[+SECONDS], e.g. drop:w03-pad@10+5 (repeatable)",
    )
    sim.add_argument(
        "--passwords",
        help="JSON file {device id: broker password} (`hallctl broker-config --json` prints it)",
    )
    sim.add_argument("--ca-file", help="verify the broker's TLS certificate against this CA")
    sim.add_argument(
        "--device-keys",
        type=Path,
        help="the controller's <db>.device-keys file: the pads sign their ratings with it",
    )
    sim.add_argument("--json", action="store_true", help="print the report as JSON")
    sim.set_defaults(func=cmd_simulate)


def _no_key(device: str) -> None:
    return None


def cmd_simulate(args: argparse.Namespace) -> int:
    from controller.auth.device_keys import DeviceKeys
    from controller.cli.hallctl import run_async
    from controller.config.errors import ConfigError
    from controller.config.loader import load_config
    from simulator.run import SimReport, run_simulation

    # gmqtt logs every lost socket with a traceback; faults make those routine here.
    logging.getLogger("gmqtt").setLevel(logging.ERROR)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        params = SimParams(
            arrivals_per_hour=args.rate if args.rate is not None else 12.0,
            start_hour=args.start_hour if args.start_hour is not None else 9.0,
        )
    except ParamsError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    broker = args.broker or (config.mqtt.host, config.mqtt.port)
    try:
        passwords = _passwords(args.passwords) if args.passwords else None
    except (OSError, ValueError) as exc:
        print(f"simulate: --passwords: {exc}", file=sys.stderr)
        return 2
    ca_file = args.ca_file or (config.mqtt.ca_file if config.mqtt.tls else "")
    tls = client_context(ca_file) if ca_file or config.mqtt.tls else None
    keys = DeviceKeys(args.device_keys).lookup(config.hall.id) if args.device_keys else _no_key

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            report: SimReport = await run_simulation(
                config,
                broker,
                duration_s=args.duration,
                speed=args.speed,
                seed=args.seed,
                faults=args.fault,
                stop=stop,
                params=params,
                passwords=passwords,
                tls=tls,
                keys=keys,
            )
        except FaultError as exc:
            print(f"simulate: {exc}", file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
        else:
            print(format_report(report.to_json()))
        return 0 if report.ok else 1

    return run_async(main)


def _passwords(path: str) -> dict[str, str]:
    """{device: password} from a JSON file: a plain map, or broker-config's ``--json`` output."""
    with open(path, encoding="utf-8") as source:
        data = json.load(source)
    if isinstance(data, dict) and isinstance(data.get("issued"), list):
        return {row["device"]: row["password"] for row in data["issued"] if row.get("device")}
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError("expected a JSON object of device id -> password")
    return dict(data)


def format_report(data: dict[str, Any]) -> str:
    summary = data["summary"]
    lines = [
        f"hall {data['hall']}: {data['duration_s']} s real, {data['simulated_minutes']} min "
        f"simulated (speed {data['speed']}, seed {data['seed']})",
        "  " + ", ".join(f"{k}={v}" for k, v in summary.items()),
    ]
    if data["open_tickets"]:
        lines.append(f"  open tickets (never called, run cut short): {data['open_tickets']}")
    for fault in data["faults"]:
        lines.append(f"  fault {fault['kind']} {fault['target'] or ''} at {fault['at_s']} s")
    if data["violations"]:
        lines.append(f"  {len(data['violations'])} violations:")
        lines.extend(
            f"    {v['kind']} {v['subject']}: {v['detail']}" for v in data["violations"][:50]
        )
    else:
        lines.append("  no violations")
    return "\n".join(lines)

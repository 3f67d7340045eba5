"""``hallctl``: the command line. Each sub-command is a thin shell over a module that does the
work, so everything here is also reachable from tests without a subprocess."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from controller.config.check import check_config_main
from controller.config.errors import ConfigError
from controller.config.loader import parse_config
from controller.daemon.logs import setup_logging
from controller.daemon.process import Daemon, HallSource, resolve_db_path

log = logging.getLogger("hallctl")


def run_async(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run on uvloop where it exists (the production loop), else asyncio's."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


def serial_protocols() -> list[str]:
    """The serial protocol names a hall file may use: those with a codec and a bus adapter."""
    from devices.serial.adapters.factory import known_protocols

    return known_protocols()


def load_sources(paths: Sequence[str]) -> list[HallSource]:
    sources = []
    protocols = serial_protocols()
    for path in paths:
        text = Path(path).read_text(encoding="utf-8")
        sources.append(HallSource(parse_config(text, source=path, protocols=protocols), text))
    return sources


def parse_http(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


async def _serve(daemon: Daemon) -> int:
    from controller.daemon.ownership import HallOwned
    from controller.store.base import StoreError

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await daemon.run(stop)
    except HallOwned as exc:
        print(f"hallctl: {exc}", file=sys.stderr)
        return 3
    except StoreError as exc:  # at start-up (read-only, full, not a store): one line, no trace
        print(f"hallctl: {exc}", file=sys.stderr)
        return 4
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    try:
        sources = load_sources(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    first = sources[0].config
    host, port = args.http or (first.http.host, first.http.port)
    stores = {(s.config.store.kind, s.config.store.dsn.strip()) for s in sources}
    if len(stores) > 1:
        print(
            "hallctl: the halls of one process share one log: their [store] kind and dsn differ "
            f"({', '.join(sorted(f'{k} {d}'.strip() for k, d in stores))})",
            file=sys.stderr,
        )
        return 2
    dsn = first.store.dsn.strip() if first.store.kind == "postgres" else ""
    if dsn and args.db:
        print(
            f'hallctl: --db names an SQLite log; {first.source} has [store] kind = "postgres"',
            file=sys.stderr,
        )
        return 2
    db = Path(args.db) if args.db else resolve_db_path(sources[0])
    from controller.daemon.device_links import link_config, mqtt_devices
    from controller.haochaping.service import Haochaping
    from controller.http.booking_api import booking_extension
    from controller.http.console import console_extension
    from devices.mqtt.credentials import CredentialsError

    try:  # the broker login of every hall with MQTT devices, before anything starts
        for source in sources:
            if any(d.link.value == "mqtt" for d in source.config.devices):
                link_config(source.config, db)
    except (CredentialsError, OSError, ValueError) as exc:  # ssl errors are OSErrors
        print(f"run: {exc}", file=sys.stderr)
        return 2

    haochaping = Haochaping(db)  # first: its keys sign the QR codes the hub prints
    daemon = Daemon(
        sources,
        db_path=db,
        dsn=dsn,
        http_host=host,
        http_port=port,
        extensions=[
            haochaping.extension(),
            mqtt_devices(followup_url=haochaping.followup_url),
            console_extension(),
            booking_extension(db),
        ],
    )
    return run_async(lambda: _serve(daemon))


def cmd_check_config(args: argparse.Namespace) -> int:
    return check_config_main(args.file, protocols=serial_protocols())


def cmd_replay(args: argparse.Namespace) -> int:
    from controller.cli.replay import replay_main

    if not Path(args.db).is_file():
        print(f"{args.db}: no such file", file=sys.stderr)
        return 2
    return run_async(
        lambda: replay_main(Path(args.db), hall=args.hall, config=args.config, as_json=args.json)
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hallctl", description="Controller for the devices of government service halls."
    )
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--plain-logs", action="store_true", help="human-readable logs")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", action="append", required=True, help="hall TOML (repeatable)")
    run.add_argument("--db", help="SQLite log file (default: [store] path of the first hall)")
    run.add_argument("--http", type=parse_http, help="HOST:PORT for the API and console")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check-config", help="validate a hall configuration")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_config)

    replay = sub.add_parser("replay", help="print the state rebuilt from a log")
    replay.add_argument("--db", required=True)
    replay.add_argument("--hall", help="hall id (default: every hall in the log)")
    replay.add_argument("--config", help="use this configuration instead of the logged one")
    replay.add_argument("--json", action="store_true", help="one JSON object per hall")
    replay.set_defaults(func=cmd_replay)

    for register in _EXTRA_COMMANDS:
        register(sub)
    return parser


def _register_demo(subparsers: Any) -> None:
    from controller.cli.demo import register_demo_command

    register_demo_command(subparsers)


def _register_simulate(subparsers: Any) -> None:
    from simulator.cli import register_simulate_command

    register_simulate_command(subparsers)


def _register_user(subparsers: Any) -> None:
    from controller.cli.user import register_user_command

    register_user_command(subparsers)


def _register_report(subparsers: Any) -> None:
    from controller.cli.report import register_report_command

    register_report_command(subparsers)


def _register_db(subparsers: Any) -> None:
    from controller.cli.db import register_db_command

    register_db_command(subparsers)


def _register_bench(subparsers: Any) -> None:
    from controller.cli.bench import register_bench_command

    register_bench_command(subparsers)


def _register_broker(subparsers: Any) -> None:
    from controller.cli.broker import register_broker_commands

    register_broker_commands(subparsers)


_EXTRA_COMMANDS: list[Callable[[Any], None]] = [
    _register_broker,
    _register_demo,
    _register_simulate,
    _register_report,
    _register_bench,
    _register_user,
    _register_db,
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level, json_lines=not args.plain_logs)
    started = time.monotonic()
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        code = 130
    log.debug("exit", extra={"code": code, "seconds": round(time.monotonic() - started, 3)})
    return code


if __name__ == "__main__":
    sys.exit(main())

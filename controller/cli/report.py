"""``hallctl report``: statistics for a date range from a log file and nothing else.

The configuration in force is read from the log itself (its ``hall_configured`` records), so
the figures can be recomputed anywhere from a copy of the database. It starts from the
statistics snapshot the daemon saved beside the log (same configuration only) and folds the
log after it; without one it folds the whole log.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from controller.config.errors import ConfigError
from controller.config.loader import parse_config
from controller.daemon.runtime import read_configuration
from controller.haochaping.export import to_csv, to_json, to_xlsx
from controller.haochaping.live_stats import load_folder
from controller.haochaping.records import read_log
from controller.haochaping.stats import StatsReport
from controller.store.base import EventStore
from controller.store.sqlite import SqliteStore

FORMATS: dict[str, Callable[[list[StatsReport]], bytes]] = {
    "csv": to_csv,
    "xlsx": to_xlsx,
    "json": to_json,
}


class ReportError(Exception):
    """The report cannot be made (no such hall, no configuration in the log)."""


async def hall_report(store: EventStore, hall: str, from_day: date, to_day: date) -> StatsReport:
    text = await read_configuration(store, hall)
    if text is None:
        raise ReportError(f"hall {hall!r} has no configuration in the log")
    config = parse_config(text, source=f"<log of {hall}>")
    folder, seq = await load_folder(store, hall, config)  # the daemon's snapshot, if any
    async for _, events in read_log(store, hall, seq):
        folder.apply(events)
    return folder.report(from_day, to_day)


async def build_reports(
    db: Path, from_day: date, to_day: date, hall: str | None
) -> list[StatsReport]:
    """One report per hall (or the one named); raises ``ReportError`` or ``ConfigError``."""
    store = await SqliteStore.open(db)
    try:
        known = [h for h in await store.halls() if not h.startswith("~")]  # "~": not halls
        if hall is not None and hall not in known:
            raise ReportError(f"{db}: no hall {hall!r}")
        return [await hall_report(store, h, from_day, to_day) for h in ([hall] if hall else known)]
    finally:
        await store.close()


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def cmd_report(args: argparse.Namespace) -> int:
    from controller.cli.hallctl import run_async

    if not Path(args.db).is_file():
        print(f"{args.db}: no such file", file=sys.stderr)
        return 2
    if args.to_day < args.from_day:
        print("--to is before --from", file=sys.stderr)
        return 2
    reports: list[StatsReport] = []

    async def build() -> int:
        reports.extend(await build_reports(Path(args.db), args.from_day, args.to_day, args.hall))
        return 0

    try:
        run_async(build)
    except (ReportError, ConfigError) as exc:
        print(exc, file=sys.stderr)
        return 2
    data = FORMATS[args.format](reports)
    if args.out:
        Path(args.out).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return 0


def register_report_command(subparsers: Any) -> None:
    report = subparsers.add_parser("report", help="好差评 and service statistics from a log")
    report.add_argument("--db", required=True, help="SQLite log file")
    report.add_argument("--from", dest="from_day", type=_day, required=True, help="YYYY-MM-DD")
    report.add_argument("--to", dest="to_day", type=_day, required=True, help="YYYY-MM-DD")
    report.add_argument("--format", choices=sorted(FORMATS), default="csv")
    report.add_argument("--hall", help="hall id (default: every hall in the log)")
    report.add_argument("--out", help="write here instead of standard output")
    report.set_defaults(func=cmd_report)

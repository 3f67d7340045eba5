"""``hallctl replay``: rebuild halls from a log file alone and print what they look like.

For audits and debugging: the configuration comes from the log's own ``hall_configured``
records (or ``--config``), the state from folding every record; the figures printed are the
same a running daemon would show. Opens the file read-only in spirit: it appends nothing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import msgspec

from controller.config.errors import ConfigError
from controller.config.loader import load_config, parse_config
from controller.config.model import HallConfig
from controller.core.queries import HallView, hall_view
from controller.daemon.runtime import load_state, read_configuration
from controller.store.base import StoreError
from controller.store.sqlite import SqliteStore


class ReplayReport(msgspec.Struct, frozen=True):
    view: HallView
    records: int
    seconds: float


async def replay_hall(store: SqliteStore, hall_id: str, config: HallConfig) -> ReplayReport:
    started = time.perf_counter()
    state = await load_state(config, store)
    return ReplayReport(
        view=hall_view(state, state.clock_ms),
        records=state.seq,
        seconds=round(time.perf_counter() - started, 3),
    )


def render_text(report: ReplayReport) -> str:
    view = report.view
    t = view.totals
    lines = [
        f"hall {view.hall} ({view.name}): {report.records} records, rebuilt in "
        f"{report.seconds:.3f} s",
        f"  tickets issued {t.issued}, called {t.called}, finished {t.finished}, "
        f"no-show {t.no_show}, cancelled {t.cancelled}, expired {t.expired}",
        f"  ratings {t.rated} (差评 {t.bad_ratings}), not evaluated {t.not_evaluated}, "
        f"coverage {'-' if view.coverage is None else f'{view.coverage:.1%}'}",
        "  windows:",
    ]
    for w in view.windows:
        staff = f"{w.staff_name}({w.staff})" if w.staff else "-"
        lines.append(
            f"    {w.number:>3} {w.name:<8} {w.state.value:<10} {staff:<14} {w.ticket or ''}"
        )
    lines.append("  queues:")
    for s in view.services:
        lines.append(f"    {s.prefix} {s.name:<10} waiting {s.waiting}")
    return "\n".join(lines)


async def replay_main(db: Path, *, hall: str | None, config: str | None, as_json: bool) -> int:
    try:
        store = await SqliteStore.open(db)
    except StoreError as exc:
        print(f"{db}: {exc}", file=sys.stderr)
        return 2
    try:
        # Streams starting with "~" are not halls (the console's accounts and audit).
        halls = [hall] if hall else [h for h in await store.halls() if not h.startswith("~")]
        if not halls:
            print(f"{db}: the log is empty", file=sys.stderr)
            return 1
        for hall_id in halls:
            try:
                if config:
                    hall_config = load_config(config)
                else:
                    text = await read_configuration(store, hall_id)
                    if text is None:
                        print(
                            f"{db}: hall {hall_id!r} has no recorded configuration; pass --config",
                            file=sys.stderr,
                        )
                        return 1
                    hall_config = parse_config(text, source=f"{db}#{hall_id}")
            except ConfigError as exc:
                print(exc, file=sys.stderr)
                return 2
            report = await replay_hall(store, hall_id, hall_config)
            if as_json:
                sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
            else:
                print(render_text(report))
        return 0
    finally:
        await store.close()

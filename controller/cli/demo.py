"""``hallctl demo``: a whole hall working on one machine, with nothing to set up.

Starts a private Mosquitto on a free port, the daemon (SQLite log in a temporary folder, the
API on a free port) with its MQTT device hub, and the simulator playing every device and
person of ``examples/demo-hall.toml`` (20 windows). Interactive: a one-screen live summary every
second until Ctrl-C or ``--duration``. ``--json``: headless, one JSON object at the end, with the
controller's own figures beside what the simulated devices saw (``lost`` must be 0).

The event log lives in a temporary folder deleted at the end unless ``--db FILE`` names one;
either way the demo says where it is at the start and what became of it at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import signal
import sys
import tempfile
import time
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import Any

from controller.config.loader import parse_config
from controller.config.model import HallConfig
from controller.core.queries import HallView, hall_view
from controller.daemon.device_links import mqtt_devices
from controller.daemon.process import Daemon, HallSource

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HALL = ROOT / "examples" / "demo-hall.toml"
DEMO_ADMIN = "admin"

log = logging.getLogger("hallctl.demo")


class DemoError(Exception):
    """The demo cannot start (no broker binary, a bad hall file)."""


def start_broker() -> Any:
    """A private broker: Mosquitto when installed (the real thing, as in production), secured
    as a hall's broker is: per-device passwords and ACL, and a TLS listener (docs/security.md)."""
    from devices.mqtt.mosquitto_process import HALL_BROKER_CONFIG, BrokerError, MosquittoProcess

    try:
        broker = MosquittoProcess(extra_config=HALL_BROKER_CONFIG, secure=True, tls=True)
        broker.start()
    except BrokerError as exc:
        raise DemoError(f"{exc}. Install it with: sudo apt-get install mosquitto") from exc
    return broker


def pad(text: str, width: int) -> str:
    """Left-justify for a terminal, counting CJK characters as two columns."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(0, width - used)


def render_screen(
    view: HallView,
    devices_online: int,
    devices_total: int,
    elapsed: float,
    url: str,
    login: str = "",
) -> str:
    """The live one-screen summary."""
    t = view.totals
    coverage = "-" if view.coverage is None else f"{view.coverage:.0%}"
    lines = [
        f"hallctl demo · {view.name} · {elapsed:5.0f} s · API {url}  (Ctrl-C ends)",
        f"tickets {t.issued}  called {t.called}  served {t.finished}  no-show {t.no_show}  "
        f"ratings {t.rated} (差评 {t.bad_ratings})  not evaluated {t.not_evaluated}  "
        f"coverage {coverage}  devices online {devices_online}/{devices_total}",
        f"console {url}/console/  login {login}" if login else "",
        "    " + pad("窗口", 36) + pad("状态", 12) + pad("工作人员", 10) + "当前号",
    ]
    for w in view.windows:
        staff = w.staff_name or "-"
        lines.append(
            f"{w.number:>3} "
            + pad(w.name, 36)
            + pad(w.state.value, 12)
            + pad(staff, 10)
            + (w.ticket or "")
        )
    lines += ["", "    " + pad("业务", 16) + "等候  最长等候   预计"]
    for s in view.services:
        longest = f"{s.longest_wait_ms // 60000}分{(s.longest_wait_ms // 1000) % 60:02d}秒"
        lines.append(
            f"  {s.prefix} "
            + pad(s.name, 16)
            + f"{s.waiting:>4}  "
            + pad(longest, 10)
            + f"{s.estimated_wait_minutes}分"
        )
    return "\n".join(lines)


async def run_demo(
    *,
    hall_file: Path = DEFAULT_HALL,
    duration: float | None,
    as_json: bool,
    speed: float = 60.0,
    seed: int = 0,
    db: Path | None = None,
    admin_password: str | None = None,
) -> int:
    from controller.auth.device_keys import DeviceKeys, device_keys_path
    from controller.haochaping.service import Haochaping
    from controller.http.booking_api import booking_extension
    from controller.http.console import console_extension
    from simulator.params import SimParams
    from simulator.run import run_simulation

    password = admin_password or secrets.token_urlsafe(9)

    text = await asyncio.to_thread(hall_file.read_text, encoding="utf-8")
    broker = await asyncio.to_thread(start_broker)
    tmp = tempfile.TemporaryDirectory(prefix="hallctl-demo-")
    db_path = db or Path(tmp.name) / "demo.db"
    print(_log_note(db_path, kept=db is not None, ended=False), file=sys.stderr)
    try:
        config: HallConfig = parse_config(text, source=str(hall_file))
        # The controller logs in over TLS with the demo CA; the simulated devices with their
        # own passwords on the plain listener (as cheap devices on the hall's own LAN would).
        controller = broker.settings(config)
        config = replace(
            config,
            mqtt=replace(
                controller, port=broker.tls_port, tls=True, ca_file=broker.tls_files.ca_file
            ),
        )
        haochaping = Haochaping(db_path)  # 差评 cases, statistics, the QR 追评 link
        daemon = Daemon(
            [HallSource(config, text)],
            db_path=db_path,
            http_port=0,
            extensions=[
                haochaping.extension(),
                mqtt_devices(followup_url=haochaping.followup_url),
                console_extension(demo_admin=(DEMO_ADMIN, password)),
                booking_extension(db_path),
            ],
        )
        stop, ready, sim_stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, sim_stop.set)
        async with asyncio.TaskGroup() as tasks:
            daemon_task = tasks.create_task(daemon.run(stop, ready))
            await ready.wait()
            url = f"http://127.0.0.1:{daemon.bound_port}"
            if as_json:  # the live screen shows it otherwise; stdout stays one JSON object
                print(f"console {url}/console/  login {DEMO_ADMIN} / {password}", file=sys.stderr)
            started = time.monotonic()
            keys = DeviceKeys(device_keys_path(db_path))  # the daemon made the pads' keys
            sim = tasks.create_task(
                run_simulation(
                    config,
                    (broker.host, broker.port),
                    duration_s=duration if duration is not None else 365 * 86400.0,
                    speed=speed,
                    seed=seed,
                    stop=sim_stop,
                    params=SimParams(arrivals_per_hour=30.0),
                    passwords=broker.device_passwords(config),
                    keys=keys.lookup(config.hall.id),
                )
            )
            screen = (
                None
                if as_json
                else tasks.create_task(
                    _live_screen(daemon, config, started, url, sim, f"{DEMO_ADMIN} / {password}")
                )
            )
            report = await sim
            if screen is not None:
                screen.cancel()
            summary = _summary(daemon, config, report, time.monotonic() - started, url)
            summary["console"] = f"{url}/console/"
            summary["login"] = {"user": DEMO_ADMIN, "password": password}
            summary["log"] = {"path": str(db_path), "kept": db is not None}
            stop.set()
            await daemon_task
        if as_json:
            sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
        else:
            print(_final_text(summary))
        return 0 if summary["lost"] == 0 and not summary["violations"] else 1
    finally:
        await asyncio.to_thread(broker.close)
        tmp.cleanup()
        print(_log_note(db_path, kept=db is not None, ended=True), file=sys.stderr)


def _log_note(path: Path, *, kept: bool, ended: bool) -> str:
    """Where the demo's event log is, and whether it outlives the demo (stderr, one line)."""
    if kept:
        return f"demo: event log {'kept in' if ended else 'in'} {path}"
    if ended:
        return f"demo: deleted its event log {path}; keep it next time with --db FILE"
    return f"demo: event log in {path} (deleted at the end; keep it with --db FILE)"


async def _live_screen(
    daemon: Daemon,
    config: HallConfig,
    started: float,
    url: str,
    sim: asyncio.Task[Any],
    login: str = "",
) -> None:
    runtime = daemon.halls[config.hall.id]
    while not sim.done():
        hub = daemon.hubs.get(config.hall.id)
        online = hub.availability.online_count() if hub else 0
        total = len(hub.availability.devices) if hub else len(config.devices)
        screen = render_screen(
            hall_view(runtime.state, runtime.now()),
            online,
            total,
            time.monotonic() - started,
            url,
            login,
        )
        sys.stdout.write("\x1b[H\x1b[2J" + screen + "\n")
        sys.stdout.flush()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(1.0)


def _summary(
    daemon: Daemon, config: HallConfig, report: Any, elapsed: float, url: str
) -> dict[str, Any]:
    runtime = daemon.halls[config.hall.id]
    totals = runtime.state.totals
    hub = daemon.hubs[config.hall.id]
    sim = report.result.summary
    satisfied = sum(
        1 for t in runtime.state.tickets.values() if t.rating is not None and not t.rating.is_bad
    )
    return {
        "hall": config.hall.id,
        "seconds": round(elapsed, 1),
        "api": url,
        "tickets_issued": totals.issued,
        "tickets_called": totals.called,
        "tickets_served": totals.finished,
        "ratings": totals.rated,
        "not_evaluated": totals.not_evaluated,
        "bad_ratings": totals.bad_ratings,
        "coverage": round(totals.rated / totals.finished, 3) if totals.finished else None,
        "satisfaction": round(satisfied / totals.rated, 3) if totals.rated else None,
        "lost": sim.lost,
        # As the checker saw them before the simulated devices disconnected at the end.
        "devices_online": sim.devices_online,
        "devices_total": sim.devices_total,
        "errors": sim.errors + hub.stats.bad_payloads + hub.stats.command_failures,
        "violations": [
            {"kind": v.kind.value, "subject": v.subject, "detail": v.detail}
            for v in report.result.violations
        ],
        "seen_by_devices": {
            "tickets_printed": sim.tickets_issued,
            "tickets_called": sim.tickets_called,
            "finish_presses": sim.tickets_served,
            "ratings_acknowledged": sim.ratings,
            "timeouts_acknowledged": sim.not_evaluated,
        },
        "hub": {
            "requests": hub.stats.requests,
            "shows": hub.stats.shows,
            "retries": hub.stats.retries,
            "refusals": hub.stats.refusals,
        },
        "log_records": runtime.state.seq,
    }


def _final_text(summary: dict[str, Any]) -> str:
    keys = (
        "tickets_issued",
        "tickets_called",
        "tickets_served",
        "ratings",
        "not_evaluated",
        "coverage",
        "satisfaction",
        "lost",
        "devices_online",
        "devices_total",
        "errors",
    )
    lines = ["", "demo finished: " + ", ".join(f"{k}={summary[k]}" for k in keys)]
    for violation in summary["violations"][:20]:
        lines.append(
            f"  violation {violation['kind']} {violation['subject']}: {violation['detail']}"
        )
    return "\n".join(lines)


def register_demo_command(subparsers: Any) -> None:
    demo = subparsers.add_parser("demo", help="run a simulated hall end to end")
    demo.add_argument("--duration", type=float, help="seconds (default: until Ctrl-C)")
    demo.add_argument("--json", action="store_true", help="headless; print one JSON object")
    demo.add_argument(
        "--speed",
        type=float,
        default=60.0,
        help="simulated seconds per real second for the people (60)",
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--hall", type=Path, default=DEFAULT_HALL, help="hall TOML")
    demo.add_argument("--db", type=Path, help="keep the event log in this file")
    demo.add_argument(
        "--admin-password", help="the console login admin's password (default: random, printed)"
    )
    demo.set_defaults(func=_cmd_demo)


def _cmd_demo(args: Any) -> int:
    from controller.cli.hallctl import run_async

    logging.getLogger("gmqtt").setLevel(logging.ERROR)
    if not args.json:
        logging.getLogger().setLevel(logging.WARNING)
    try:
        return run_async(
            lambda: run_demo(
                hall_file=args.hall,
                duration=args.duration,
                as_json=args.json,
                speed=args.speed,
                seed=args.seed,
                db=args.db,
                admin_password=args.admin_password,
            )
        )
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2

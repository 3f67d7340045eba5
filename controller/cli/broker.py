"""``hallctl broker-config`` and ``hallctl device credentials``: the hall broker's identities.

``broker-config`` makes a password for the controller of each hall and for every MQTT device
that has none yet, keeps them in the credentials file beside the database (devices' as hashes
only), and writes into ``--out`` what Mosquitto needs: ``passwd``, ``acl`` and
``mosquitto.conf`` (``devices.mqtt.broker_access``), plus, with ``--tls-demo``, a throw-away CA
and server certificate. New device passwords are printed once, for the installer; they cannot
be shown again (``device credentials DEVICE --rotate`` makes a new one). After either command,
the running broker is told with ``kill -HUP $(pidof mosquitto)`` (docs/security.md).

For an evaluator pad, ``device credentials`` also provisions its rating signing key (made if it
has none, replaced with ``--rotate``: a new key id, so the pad's counter starts again) in
``<db>.device-keys`` and prints it with the password, for the installer to load into the pad
(docs/protocol/mqtt.md §6.5). A running daemon reads keys at start: restart it after a rotation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from controller.auth.device_keys import DeviceKeyError, DeviceKeys, device_keys_path
from controller.config.errors import ConfigError
from controller.config.model import DeviceKind, HallConfig, LinkKind
from controller.daemon.process import HallSource, resolve_db_path
from devices.mqtt.broker_access import (
    TlsFiles,
    render_acl,
    render_mosquitto_config,
    render_password_file,
)
from devices.mqtt.credentials import CredentialsError, CredentialStore, Issued, credentials_path
from devices.mqtt.identity import Identity
from firmware_protocols.rating_mac import DeviceKey

RELOAD_HINT = "then reload the broker: kill -HUP $(pidof mosquitto)"


def register_broker_commands(subparsers: Any) -> None:
    from controller.cli.hallctl import parse_http

    broker = subparsers.add_parser(
        "broker-config", help="write Mosquitto's password file, ACL and config for the halls"
    )
    _where(broker)
    broker.add_argument("--out", required=True, help="folder for passwd, acl, mosquitto.conf")
    broker.add_argument(
        "--listen", type=parse_http, default=("127.0.0.1", 1883), help="HOST:PORT (plain MQTT)"
    )
    broker.add_argument("--tls-listen", type=parse_http, help="HOST:PORT of a TLS listener")
    broker.add_argument("--tls-demo", action="store_true", help="make a CA and server cert")
    broker.add_argument("--tls-ca", help="the CA certificate (real certificates)")
    broker.add_argument("--tls-cert", help="the broker's certificate")
    broker.add_argument("--tls-key", help="the broker's private key")
    broker.add_argument("--json", action="store_true", help="print new passwords as JSON")
    broker.set_defaults(func=cmd_broker_config)

    device = subparsers.add_parser("device", help="device provisioning")
    actions = device.add_subparsers(dest="device_action", required=True)
    creds = actions.add_parser("credentials", help="make (or --rotate) a device's password")
    creds.add_argument("device", help="device id, or 'controller' for the hall's controller")
    creds.add_argument("--rotate", action="store_true", help="replace an existing password")
    creds.add_argument("--out", help="also rewrite passwd and acl in this broker-config folder")
    creds.add_argument("--json", action="store_true")
    _where(creds)
    creds.set_defaults(func=cmd_device_credentials)


def _where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", action="append", required=True, help="hall TOML (repeatable)")
    parser.add_argument("--db", help="the log file (default: [store] path of the first hall)")


def identities(configs: Sequence[HallConfig]) -> list[Identity]:
    """Every hall's controller and every MQTT device, in configuration order."""
    found: list[Identity] = []
    for config in configs:
        found.append(Identity(config.hall.id))
        found += [Identity(config.hall.id, d.id) for d in config.devices if d.link is LinkKind.MQTT]
    return found


def write_access_files(out: Path, store: CredentialStore, wanted: Sequence[Identity]) -> None:
    """``passwd`` and ``acl`` for exactly ``wanted`` (a removed device loses its access)."""
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "passwd", render_password_file(store.hashes(wanted)), 0o640)
    _write(out / "acl", render_acl(wanted), 0o644)


def cmd_broker_config(args: argparse.Namespace) -> int:
    loaded = _load(args)
    if loaded is None:
        return 2
    sources, store = loaded
    tls_paths = (args.tls_ca, args.tls_cert, args.tls_key)
    if any(tls_paths) and not all(tls_paths):
        print("broker-config: --tls-ca, --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if (args.tls_demo or any(tls_paths)) and args.tls_listen is None:
        args.tls_listen = ("0.0.0.0", 8883)
    if args.tls_listen is not None and not (args.tls_demo or all(tls_paths)):
        print("broker-config: a TLS listener needs --tls-demo or --tls-*", file=sys.stderr)
        return 2
    wanted = identities([s.config for s in sources])
    issued = store.ensure(wanted)
    store.save()
    out = Path(args.out)
    write_access_files(out, store, wanted)
    tls: TlsFiles | None = None
    if args.tls_demo:
        from devices.mqtt.tls import write_demo_certificates

        host = args.tls_listen[0]
        tls = write_demo_certificates(out / "tls", [] if host == "0.0.0.0" else [host])
    elif all(tls_paths):
        tls = TlsFiles(*(str(Path(p).resolve()) for p in tls_paths))
    conf = render_mosquitto_config(
        password_file=str((out / "passwd").resolve()),
        acl_file=str((out / "acl").resolve()),
        listeners=[args.listen],
        tls_listener=args.tls_listen if tls else None,
        tls=tls,
    )
    _write(out / "mosquitto.conf", conf, 0o644)
    _report(args, issued, store, out)
    return 0


def cmd_device_credentials(args: argparse.Namespace) -> int:
    loaded = _load(args)
    if loaded is None:
        return 2
    sources, store = loaded
    wanted = identities([s.config for s in sources])
    if args.device == "controller":
        matches = [i for i in wanted if i.device is None]
    else:
        matches = [i for i in wanted if i.device == args.device]
    if len(matches) != 1:
        what = "no" if not matches else "more than one (one hall per --config, please)"
        print(f"device credentials: {what} MQTT device {args.device!r}", file=sys.stderr)
        return 2
    identity = matches[0]
    pad = _is_pad(sources, identity)
    if store.has(identity) and not args.rotate:
        print(
            f"device credentials: {identity.client_id} already has a password (only its hash "
            "is kept); --rotate makes a new one",
            file=sys.stderr,
        )
        return 1
    key = None
    if pad:
        try:
            keys = DeviceKeys(device_keys_path(_db_of(args, sources)))
            key = keys.provision(identity.hall, args.device, rotate=args.rotate)
        except (DeviceKeyError, OSError) as exc:
            print(f"device credentials: {exc}", file=sys.stderr)
            return 2
    issued = [store.rotate(identity)]
    store.save()
    if args.out:
        write_access_files(Path(args.out), store, wanted)
    _report(args, issued, store, Path(args.out) if args.out else None, key)
    return 0


def _is_pad(sources: Sequence[HallSource], identity: Identity) -> bool:
    """Whether the identity is a networked evaluator pad (it signs its ratings)."""
    for source in sources:
        if source.config.hall.id != identity.hall:
            continue
        for device in source.config.devices:
            if device.id == identity.device:
                return device.kind is DeviceKind.EVALUATOR
    return False


def _db_of(args: argparse.Namespace, sources: Sequence[HallSource]) -> Path:
    return Path(args.db) if args.db else resolve_db_path(sources[0])


def _load(args: argparse.Namespace) -> tuple[list[HallSource], CredentialStore] | None:
    from controller.cli.hallctl import load_sources

    try:
        sources = load_sources(args.config)
    except (ConfigError, OSError) as exc:
        print(exc, file=sys.stderr)
        return None
    path = credentials_path(_db_of(args, sources), sources[0].config.mqtt.credentials_file)
    try:
        return sources, CredentialStore.load(path)
    except CredentialsError as exc:
        print(exc, file=sys.stderr)
        return None


def _report(
    args: argparse.Namespace,
    issued: list[Issued],
    store: CredentialStore,
    out: Path | None,
    key: DeviceKey | None = None,
) -> None:
    devices = [i for i in issued if i.identity.device is not None]
    signing = {"key_id": key.key_id, "key": key.secret.hex()} if key is not None else None
    if args.json:
        rows = [
            {
                "hall": i.identity.hall,
                "device": i.identity.device,
                "username": i.identity.client_id,
                "password": i.password,
                **({"signing_key": signing} if signing else {}),
            }
            for i in devices
        ]
        print(json.dumps({"issued": rows, "credentials_file": str(store.path)}, indent=1))
        return
    if devices:
        print("新设备密码（只显示这一次；系统只保存其摘要）/ new device passwords, shown once:")
        for i in devices:
            print(f"  {i.identity.client_id}\t{i.password}")
    else:
        print("没有新设备 / no new device passwords")
    if signing is not None:
        print(f"评价签名密钥 / rating signing key: {signing['key_id']}\t{signing['key']}")
    print(f"credentials: {store.path}")
    if out is not None:
        print(f"broker files: {out}/passwd, {out}/acl")
    print(RELOAD_HINT)


def _write(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)

"""The pads' signing keys (好差评 ratings are signed: ``firmware_protocols.rating_mac``).

One JSON file beside the database, ``<db>.device-keys``, mode 0600, never in the configuration
(its text is recorded in the hall's log) nor in the log. It maps ``"{hall}/{device}"`` to the
device's current key: ``{"key_id": "k1a2b3c4", "key": "<64 hex>"}``. The daemon creates the keys
of the hall's networked evaluator pads that have none at start; the installer reads a key out
(``provision``) and loads it into the pad with its MQTT credentials; ``rotate=True`` replaces
it (a new key id, so the pad's counter starts again). This module is the one API for that:
the daemon, the command line and the simulator use it.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

from firmware_protocols.rating_mac import KEY_BYTES, DeviceKey


class DeviceKeyError(Exception):
    """The key file exists but is unusable (not JSON, a key of the wrong size...)."""


def device_keys_path(db_path: Path) -> Path:
    """Where a database's device keys live: ``<db>.device-keys``."""
    return db_path.with_name(db_path.name + ".device-keys")


def _new_key() -> DeviceKey:
    return DeviceKey(key_id=f"k{secrets.token_hex(4)}", secret=secrets.token_bytes(KEY_BYTES))


class DeviceKeys:
    """The key file, read once; changes are written atomically (write, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys: dict[str, DeviceKey] = self._read() if path.exists() else {}

    def _read(self) -> dict[str, DeviceKey]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            keys = {
                name: DeviceKey(key_id=str(entry["key_id"]), secret=bytes.fromhex(entry["key"]))
                for name, entry in data.items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DeviceKeyError(f"{self.path}: not a usable device key file ({exc})") from exc
        for name, key in keys.items():
            if len(key.secret) != KEY_BYTES:
                raise DeviceKeyError(f"{self.path}: the key of {name} is not {KEY_BYTES} bytes")
        return keys

    def get(self, hall: str, device: str) -> DeviceKey | None:
        """The device's current key, or None when it has none."""
        return self._keys.get(f"{hall}/{device}")

    def lookup(self, hall: str) -> Callable[[str], DeviceKey | None]:
        """``get`` for one hall: what the device hub and the simulated pads are given."""

        def key_of(device: str) -> DeviceKey | None:
            return self.get(hall, device)

        return key_of

    def provision(self, hall: str, device: str, *, rotate: bool = False) -> DeviceKey:
        """The device's key, created if it has none; ``rotate``: a new one in any case."""
        name = f"{hall}/{device}"
        key = self._keys.get(name)
        if key is None or rotate:
            key = self._keys[name] = _new_key()
            self._write()
        return key

    def ensure(self, hall: str, devices: Iterable[str]) -> list[str]:
        """Create the missing keys of ``devices``; returns the ids that got one."""
        missing = [d for d in devices if f"{hall}/{d}" not in self._keys]
        for device in missing:
            self._keys[f"{hall}/{device}"] = _new_key()
        if missing:
            self._write()
        return missing

    def _write(self) -> None:
        text = json.dumps(
            {n: {"key_id": k.key_id, "key": k.secret.hex()} for n, k in self._keys.items()},
            indent=1,
            sort_keys=True,
        )
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)

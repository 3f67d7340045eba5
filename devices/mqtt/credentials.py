"""The hall's broker credentials: a small JSON file beside the database, mode 0600.

Devices' passwords are kept only as hashes: the plain text is printed once, when it is made
(``hallctl broker-config`` or ``hallctl device credentials --rotate``), for the installer to type
into the device. The controller's own password is kept in clear, because the daemon must
present it; like the 好差评 keys it is never in the configuration, whose text is recorded in
the event log. ``<db>.mqtt-credentials`` unless ``[mqtt] credentials_file`` says otherwise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devices.mqtt.broker_access import hash_password, new_password
from devices.mqtt.identity import Identity

FORMAT_VERSION = 1


class CredentialsError(Exception):
    """The credentials file exists but is unusable, or lacks what is asked of it."""


def credentials_path(db_path: Path, configured: str = "") -> Path:
    """``configured`` (relative to the database's folder) or ``<db>.mqtt-credentials``."""
    if not configured:
        return db_path.with_name(db_path.name + ".mqtt-credentials")
    path = Path(configured)
    return path if path.is_absolute() else db_path.parent / path


@dataclass(frozen=True, slots=True)
class Issued:
    """A password just made: shown once, then only its hash is kept (the controller's aside)."""

    identity: Identity
    password: str


@dataclass
class CredentialStore:
    """Per hall: the controller's password and each device's password hash."""

    path: Path
    controllers: dict[str, str] = field(default_factory=dict)  # hall -> password
    devices: dict[Identity, str] = field(default_factory=dict)  # identity -> $7$ hash

    @classmethod
    def load(cls, path: Path) -> CredentialStore:
        """The store at ``path``; empty if the file does not exist yet."""
        store = cls(path)
        if not path.exists():
            return store
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != FORMAT_VERSION:
                raise ValueError(f"version {data.get('version')!r}, expected {FORMAT_VERSION}")
            for hall, entry in data["halls"].items():
                if entry.get("controller"):
                    store.controllers[Identity(hall).hall] = str(entry["controller"])
                for device, hashed in entry.get("devices", {}).items():
                    if not str(hashed).startswith("$7$"):
                        raise ValueError(f"device {device}: not a $7$ hash")
                    store.devices[Identity(hall, device)] = str(hashed)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CredentialsError(f"{path}: not a usable credentials file ({exc})") from exc
        return store

    def controller_password(self, hall: str) -> str:
        try:
            return self.controllers[hall]
        except KeyError:
            raise CredentialsError(
                f"{self.path}: no MQTT password for hall {hall}'s controller "
                "(run `hallctl broker-config`)"
            ) from None

    def ensure(self, identities: Iterable[Identity]) -> list[Issued]:
        """Make a password for every identity that has none; returns the new ones."""
        return [self._issue(i) for i in identities if not self.has(i)]

    def has(self, identity: Identity) -> bool:
        if identity.device is None:
            return identity.hall in self.controllers
        return identity in self.devices

    def rotate(self, identity: Identity) -> Issued:
        """A new password for ``identity``; the old one stops working once the broker reloads."""
        return self._issue(identity)

    def hashes(self, identities: Iterable[Identity]) -> list[tuple[Identity, str]]:
        """The password-file rows of ``identities`` (each must have a password)."""
        rows = []
        for identity in identities:
            if identity.device is None:
                rows.append((identity, hash_password(self.controller_password(identity.hall))))
            elif identity in self.devices:
                rows.append((identity, self.devices[identity]))
            else:
                raise CredentialsError(f"{self.path}: no password for {identity.client_id}")
        return rows

    def save(self) -> None:
        """Write atomically, mode 0600."""
        halls: dict[str, dict[str, Any]] = {}
        for hall, password in self.controllers.items():
            halls.setdefault(hall, {"controller": "", "devices": {}})["controller"] = password
        for identity, hashed in self.devices.items():
            entry = halls.setdefault(identity.hall, {"controller": "", "devices": {}})
            entry["devices"][identity.device] = hashed
        text = json.dumps({"version": FORMAT_VERSION, "halls": halls}, indent=1, sort_keys=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)

    def _issue(self, identity: Identity) -> Issued:
        password = new_password()
        if identity.device is None:
            self.controllers[identity.hall] = password
        else:
            self.devices[identity] = hash_password(password)
        return Issued(identity, password)

"""The keys of 好差评: one signs follow-up QR tokens, one seals raters' identities.

They live in a small JSON file next to the database (or where ``[evaluation] secrets_file``
says), created on first start with mode 0600. Never in the configuration: the configuration
text is recorded in the hall's log, and keys must not be.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path


class KeyFileError(Exception):
    """The secrets file exists but is unusable (not JSON, a key missing or of the wrong size)."""


@dataclass(frozen=True, slots=True)
class HaochapingKeys:
    follow_up: bytes  # HMAC-SHA256 key of QR tokens
    identity: bytes  # AES-256-GCM key of raters' identities

    @classmethod
    def generate(cls) -> HaochapingKeys:
        return cls(follow_up=secrets.token_bytes(32), identity=secrets.token_bytes(32))


def secrets_path(db_path: Path, configured: str) -> Path:
    """``configured`` (relative to the database's folder) or ``<db>.secrets``."""
    if not configured:
        return db_path.with_name(db_path.name + ".secrets")
    path = Path(configured)
    return path if path.is_absolute() else db_path.parent / path


def load_or_create_keys(path: Path) -> HaochapingKeys:
    if not path.exists():
        keys = HaochapingKeys.generate()
        text = json.dumps({"follow_up": keys.follow_up.hex(), "identity": keys.identity.hex()})
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        return keys
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        keys = HaochapingKeys(
            follow_up=bytes.fromhex(data["follow_up"]), identity=bytes.fromhex(data["identity"])
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a usable secrets file ({exc})") from exc
    if len(keys.follow_up) < 16 or len(keys.identity) != 32:
        raise KeyFileError(f"{path}: keys of the wrong size")
    return keys


@dataclass(frozen=True, slots=True)
class Credentials:
    """A reporting destination's account at its platform (``[[reporting]] credentials``)."""

    app_key: str
    app_secret: bytes

    def __repr__(self) -> str:  # never in a log line or a traceback
        return f"Credentials(app_key={self.app_key!r}, app_secret=<{len(self.app_secret)} bytes>)"


def load_credentials(path: Path, name: str) -> Credentials:
    """Entry ``name`` of the secrets file's ``"reporting"`` object.

    Staff add it by hand next to the generated keys, e.g.
    ``"reporting": {"province": {"app_key": "3309990001", "app_secret": "…"}}``.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entry = data["reporting"][name]
        key, secret = entry["app_key"], entry["app_secret"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(
            f"{path}: no usable reporting credentials {name!r} "
            f'(expected "reporting": {{"{name}": {{"app_key": …, "app_secret": …}}}}; {exc!r})'
        ) from exc
    if not isinstance(key, str) or not isinstance(secret, str) or not key or len(secret) < 8:
        raise KeyFileError(
            f"{path}: reporting credentials {name!r}: app_key or app_secret unusable"
        )
    return Credentials(app_key=key, app_secret=secret.encode("utf-8"))

"""What a Mosquitto broker needs to know who may do what: a password file and an ACL.

Theory of operation. Every client logs in with a user name that is also its client id
(``devices.mqtt.identity``; the broker runs with ``use_username_as_clientid``), and the ACL
lists, per user, the topics of ``firmware_protocols.mqtt_v1`` it may touch:

- a device publishes only its own ``up`` and ``status`` topics (its birth, and its will, which
  Mosquitto 2.0 checks against the ACL when it would publish it), and reads only its own
  ``down`` and ``status`` topics and its hall's controller status;
- a hall's controller reads every device's ``up`` and ``status`` topic of its hall, writes their
  ``down`` topics, and reads and writes its own status topic; nothing of another hall.

Anything else is refused by the broker: a publish to another device's topic is dropped (MQTT 5
answers it with reason 0x87), a subscription to another device's ``down`` topic is refused, a
will on another device's status topic is dropped instead of published. Pure text rendering, no I/O;
why per-user lines and not ``pattern`` lines: docs/decisions/0007-broker-identity-and-acl.md.

Passwords are stored as Mosquitto 2.0's ``$7$`` hashes (PBKDF2-SHA512, 12-byte salt, 64-byte
hash, base64), the format ``mosquitto_passwd`` writes.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from devices.mqtt.identity import Identity
from firmware_protocols import mqtt_v1 as proto

HASH_ITERATIONS: Final = 1000
"""PBKDF2 rounds. Passwords are random 144-bit tokens, so the rounds protect nothing a
dictionary could find; 1000 keeps a broker restart with thousands of logins cheap."""
SALT_BYTES: Final = 12
HASH_BYTES: Final = 64
PASSWORD_BYTES: Final = 18  # 24 URL-safe characters, 144 bits


class Access(enum.Enum):
    READ = "read"
    WRITE = "write"
    READWRITE = "readwrite"


@dataclass(frozen=True, slots=True)
class Grant:
    access: Access
    topic: str


def new_password() -> str:
    """A random password for one identity (URL-safe, 24 characters)."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Mosquitto 2.0 ``$7$`` hash of ``password``."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, HASH_ITERATIONS, HASH_BYTES)
    return f"$7${HASH_ITERATIONS}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, hashed: str) -> bool:
    """Whether ``password`` matches a ``$7$`` hash (as the broker will decide)."""
    try:
        _, kind, rounds, salt, digest = hashed.split("$")
        if kind != "7":
            return False
        computed = hashlib.pbkdf2_hmac(
            "sha512", password.encode(), base64.b64decode(salt), int(rounds), HASH_BYTES
        )
        return hmac.compare_digest(computed, base64.b64decode(digest))
    except ValueError:
        return False


def grants(identity: Identity) -> tuple[Grant, ...]:
    """The topics ``identity`` may use, and how (see the module docstring)."""
    hall = identity.hall
    controller_status = proto.controller_status_topic(hall)
    if identity.device is None:
        return (
            Grant(Access.READWRITE, controller_status),
            Grant(Access.READ, proto.up_filter(hall)),
            Grant(Access.READ, proto.status_filter(hall)),
            Grant(Access.WRITE, f"{proto.TOPIC_ROOT}/{hall}/dev/+/down"),
        )
    device = identity.device
    return (
        Grant(Access.WRITE, proto.up_topic(hall, device)),
        Grant(Access.READWRITE, proto.status_topic(hall, device)),  # its own retained birth
        Grant(Access.READ, proto.down_topic(hall, device)),
        Grant(Access.READ, controller_status),
    )


def loadgen_user(hall: str, n: int) -> str:
    """``hallctl bench``'s load generator plays thousands of devices over a few connections;
    connection ``n`` logs in as ``b/{hall}/{n}``. Test brokers only: never in broker-config."""
    return f"b/{proto.check_id(hall, 'hall')}/{n}"


def loadgen_grants(hall: str) -> tuple[Grant, ...]:
    """Every device's topics of one hall, as its devices would use them together."""
    dev = f"{proto.TOPIC_ROOT}/{proto.check_id(hall, 'hall')}/dev"
    return (
        Grant(Access.WRITE, f"{dev}/+/up"),
        Grant(Access.READWRITE, f"{dev}/+/status"),
        Grant(Access.READ, f"{dev}/+/down"),
        Grant(Access.READ, proto.controller_status_topic(hall)),
    )


def render_acl(
    identities: Iterable[Identity], extra: Iterable[tuple[str, tuple[Grant, ...]]] = ()
) -> str:
    """A Mosquitto ``acl_file``: one ``user`` block per identity (and per ``extra`` user name
    with its grants), nothing for anyone else."""
    blocks = [(i.client_id, grants(i)) for i in set(identities)] + list(extra)
    lines = [
        "# hallctl broker ACL (written by `hallctl broker-config`; edit the hall config instead)",
        "# user name = client id (use_username_as_clientid true): c/HALL or d/HALL/DEVICE",
    ]
    for user, granted in sorted(blocks):
        lines.append("")
        lines.append(f"user {user}")
        lines.extend(f"topic {g.access.value} {g.topic}" for g in granted)
    return "\n".join(lines) + "\n"


def render_password_file(hashes: Iterable[tuple[Identity | str, str]]) -> str:
    """A Mosquitto ``password_file``: ``user:$7$...`` lines (an identity or a user name)."""
    rows = sorted(
        (who.client_id if isinstance(who, Identity) else who, hashed) for who, hashed in hashes
    )
    return "".join(f"{user}:{hashed}\n" for user, hashed in rows)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Paths of the broker's TLS listener: the CA clients trust, its certificate and key."""

    ca_file: str
    cert_file: str
    key_file: str


def render_mosquitto_config(
    *,
    password_file: str,
    acl_file: str,
    listeners: Iterable[tuple[str, int]] = (("127.0.0.1", 1883),),
    tls_listener: tuple[str, int] | None = None,
    tls: TlsFiles | None = None,
    extra: str = "",
    max_inflight: int | None = 1000,
    tcp_nodelay: bool = True,
) -> str:
    """A ``mosquitto.conf`` with authentication and the ACL on for every listener.
    ``max_inflight`` and ``tcp_nodelay``: docs/decisions/0003 and 0005 (None: Mosquitto's 20)."""
    if (tls_listener is None) != (tls is None):
        raise ValueError("a TLS listener needs its certificate files, and the reverse")
    lines = [
        "# hallctl hall broker (written by `hallctl broker-config`)",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {password_file}",
        f"acl_file {acl_file}",
        f"set_tcp_nodelay {'true' if tcp_nodelay else 'false'}",
    ]
    if max_inflight is not None:
        lines.append(f"max_inflight_messages {max_inflight}")
    # use_username_as_clientid is a listener option: before any listener it would open 1883.
    for host, port in listeners:
        lines += [f"listener {port} {host}", "use_username_as_clientid true"]
    if tls_listener is not None and tls is not None:
        host, port = tls_listener
        lines += [
            f"listener {port} {host}",
            "use_username_as_clientid true",
            f"cafile {tls.ca_file}",
            f"certfile {tls.cert_file}",
            f"keyfile {tls.key_file}",
            "tls_version tlsv1.2",
        ]
    return "\n".join(lines) + "\n" + extra


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")

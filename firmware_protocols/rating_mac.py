"""Signed ratings: the HMAC-SHA256 a pad puts on every ``rating`` and ``rating_timeout``.

Why: a 好差评 rating is evidence about a named civil servant. The broker's login and ACL keep
other clients from publishing as the pad; the MAC makes the rating itself unforgeable and
checkable later (it is recorded with the rating), and the per-pad counter makes a captured
rating useless a second time.

The MAC covers a *canonical string*, not the MessagePack bytes (encoders differ in integer
widths and key order): ASCII lines joined by ``\\n``, no trailing newline, integers in decimal
without leading zeros, reason ids joined by ``,`` in the order sent. All the joined values are
ids (``A-Z a-z 0-9 _ -``) or integers, so no escaping is ever needed::

    hallctl/v1/rating          hallctl/v1/rating_timeout
    {hall}                     {hall}
    {device}                   {device}
    {key_id}                   {key_id}
    {counter}                  {counter}
    {ticket}                   {ticket}
    {rating_id}
    {level}
    {reasons}

``rid`` and ``age_ms`` change with every re-send and are not covered. The MAC is the full
32-byte HMAC-SHA256 (MessagePack bin 8), keyed with the pad's 32-byte key. Sans-I/O: the key
store (``controller.auth.device_keys``) and the checks against the log live elsewhere.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass
from typing import Final, TypeVar

import msgspec

from firmware_protocols import mqtt_v1 as proto

KEY_BYTES: Final = 32
MAC_BYTES: Final = 32


@dataclass(frozen=True, slots=True)
class DeviceKey:
    """A pad's signing key; ``key_id`` changes when the key is rotated."""

    key_id: str
    secret: bytes


class Signature(enum.Enum):
    """What checking a message's MAC found."""

    VALID = "valid"
    UNSIGNED = "unsigned"  # no counter/key_id/mac at all
    UNKNOWN_KEY = "unknown_key"  # signed with a key id this controller does not hold
    BAD_MAC = "bad_mac"  # wrong MAC (or a field changed after signing)


Signable = proto.Rating | proto.RatingTimeout
S = TypeVar("S", proto.Rating, proto.RatingTimeout)


def canonical(hall: str, device: str, key_id: str, counter: int, message: Signable) -> bytes:
    """The exact bytes the MAC is computed over (see the module docstring)."""
    if isinstance(message, proto.Rating):
        lines = [
            "hallctl/v1/rating",
            hall,
            device,
            key_id,
            str(counter),
            str(message.ticket),
            message.rating_id,
            str(int(message.level)),
            ",".join(message.reasons),
        ]
    else:
        lines = [
            "hallctl/v1/rating_timeout",
            hall,
            device,
            key_id,
            str(counter),
            str(message.ticket),
        ]
    return "\n".join(lines).encode("ascii")


def mac(key: DeviceKey, hall: str, device: str, counter: int, message: Signable) -> bytes:
    """HMAC-SHA256 of the canonical string under ``key``."""
    data = canonical(hall, device, key.key_id, counter, message)
    return hmac.new(key.secret, data, hashlib.sha256).digest()


def sign(key: DeviceKey, hall: str, device: str, counter: int, message: S) -> S:
    """``message`` with ``counter``, ``key_id`` and ``mac`` filled in (what a pad sends)."""
    tag = mac(key, hall, device, counter, message)
    return msgspec.structs.replace(message, counter=counter, key_id=key.key_id, mac=tag)


def check(key: DeviceKey | None, hall: str, device: str, message: Signable) -> Signature:
    """Check a received message's MAC against the pad's key (``None``: no key provisioned)."""
    if message.mac is None or message.counter is None or message.key_id is None:
        return Signature.UNSIGNED
    if key is None or key.key_id != message.key_id:
        return Signature.UNKNOWN_KEY
    expected = mac(key, hall, device, message.counter, message)
    return Signature.VALID if hmac.compare_digest(expected, message.mac) else Signature.BAD_MAC

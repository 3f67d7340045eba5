"""The signed token printed in the ticket's QR code, without which no 追评 is accepted.

The token is an HMAC of hall and ticket id under a key only the controller holds, so a citizen
can rate the ticket in their hand and no other: guessing another ticket's token means forging
the MAC. "Once" is the engine's rule (``FollowUpState``): a reused token finds the 追评 used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Final

TOKEN_BYTES: Final = 16  # 128 bits: short enough for a small QR code, far beyond guessing


def follow_up_token(key: bytes, hall: str, ticket: int) -> str:
    mac = hmac.new(key, f"{hall}:{ticket}".encode(), hashlib.sha256).digest()[:TOKEN_BYTES]
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def token_is_valid(key: bytes, hall: str, ticket: int, token: str) -> bool:
    expected = follow_up_token(key, hall, ticket)
    return hmac.compare_digest(expected.encode("ascii"), token.encode("utf-8", "replace"))


def follow_up_link(base_url: str, key: bytes, hall: str, ticket: int) -> str:
    """What the QR code holds: the public page for this ticket with its token."""
    token = follow_up_token(key, hall, ticket)
    return f"{base_url.rstrip('/')}/{hall}/{ticket}?t={token}"

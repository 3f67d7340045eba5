"""Request signing shared by the signing adapters: HMAC-SHA256 over sorted parameters.

Provincial gateways sign ``k1=v1&k2=v2…`` (keys sorted, the signature itself left out) with
the app secret, over a timestamp and a one-time nonce so a captured request cannot be replayed.
SM3 would fit some gateways, but the only pure-Python SM3 on PyPI (gmssl) has had no release
since 2023: HMAC-SHA256 from the standard library it is.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping


def canonical(params: Mapping[str, str]) -> str:
    """``k=v`` pairs sorted by key, joined by ``&``, values as they are (not URL-encoded)."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params))


def hmac_sha256(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode("utf-8"), hashlib.sha256).hexdigest()


def nonce() -> str:
    return secrets.token_hex(8)

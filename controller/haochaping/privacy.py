"""The rater's identity: sealed (AES-256-GCM) before it reaches the engine, masked when shown.

A citizen may leave a name or phone number with a 追评 so the department can call back (回访).
It is encrypted at the HTTP edge; the engine, the log, the outbox and every log line only ever
see the sealed text. Window staff never see it; the console shows it masked (张*, 138****5678)
and only code holding the key can open it (``unseal``): the 回访 route, for an account with the
followup duty, after the opening is recorded in the log (``ContactUnsealed``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from typing import Final

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX: Final = "v1:"
_AAD: Final = b"hallctl rater identity"
MAX_IDENTITY: Final = 64


class PrivacyError(Exception):
    """A sealed identity that cannot be opened (wrong key, altered, not ours)."""


def seal(identity: str, key: bytes) -> str:
    """Encrypt with a fresh random nonce: equal identities give different texts."""
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, identity.encode("utf-8"), _AAD)
    return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def unseal(sealed: str, key: bytes) -> str:
    if not sealed.startswith(_PREFIX):
        raise PrivacyError("not a sealed identity")
    try:
        raw = base64.urlsafe_b64decode(sealed[len(_PREFIX) :])
        return AESGCM(key).decrypt(raw[:12], raw[12:], _AAD).decode("utf-8")
    except (InvalidTag, ValueError) as exc:
        raise PrivacyError("the sealed identity cannot be opened with this key") from exc


_PHONE: Final = re.compile(r"\+?\d[\d -]{5,18}\d")


class Contact(msgspec.Struct, frozen=True):
    """An opened contact for 回访: the text as left, and the name and phone found in it."""

    text: str
    name: str
    phone: str


def split_contact(identity: str) -> Contact:
    """ "张三 13812345678" → name 张三, phone 13812345678 (the first run of 7+ digits; spaces
    and dashes inside it dropped). Either may be empty; the text is kept as left."""
    text = identity.strip()
    found = _PHONE.search(text)
    if found is None:
        return Contact(text=text, name=text, phone="")
    phone = re.sub(r"[ -]", "", found.group())
    if sum(ch.isdigit() for ch in phone) < 7:
        return Contact(text=text, name=text, phone="")
    name = (text[: found.start()] + " " + text[found.end() :]).strip(" ,，;；:：")
    return Contact(text=text, name=" ".join(name.split()), phone=phone)


def mask(identity: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧***, 13812345678 → 138****5678; shown, never the clear text."""
    text = identity.strip()
    if not text:
        return ""
    if text.isdigit() and len(text) >= 7:
        return text[:3] + "*" * (len(text) - 7) + text[-4:]
    return text[0] + "*" * max(1, len(text) - 1)


def keyed_digest(identity: str, key: bytes, *, purpose: bytes) -> str:
    """A keyed hash (HMAC-SHA256, a key derived for ``purpose``): equal identities give
    equal digests, so a rule can count them (a phone's 爽约) without the clear text."""
    derived = hmac.new(key, purpose, hashlib.sha256).digest()
    return hmac.new(derived, identity.strip().encode("utf-8"), hashlib.sha256).hexdigest()[:32]

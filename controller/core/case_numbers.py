"""办件编号 (case numbers): the business system's when it named one, else generated.

Generated numbers are deterministic (the engine calls this while deciding): region code, a short
digest of the hall id (two halls of one region never collide), the business day and the ticket's
id in the hall's log; at most 34 characters, within the national limit of 50.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

MAX_CASE_NUMBER: Final = 50
_PRINTABLE_ASCII: Final = re.compile(r"[\x21-\x7e]{1,50}")


def generated_case_number(region_code: str, hall_id: str, day: str, ticket_id: int) -> str:
    """``day`` is the ticket's ISO business day."""
    hall = hashlib.sha256(hall_id.encode("utf-8")).hexdigest()[:6].upper()
    return f"{region_code}{hall}{day.replace('-', '')}{ticket_id:08d}"


def valid_case_number(value: str) -> bool:
    """1 to 50 printable ASCII characters, no spaces (what provincial platforms accept)."""
    return _PRINTABLE_ASCII.fullmatch(value) is not None

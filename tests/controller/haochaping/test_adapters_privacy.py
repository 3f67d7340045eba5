"""Pure parts: adapter mapping and verdicts, follow-up tokens, identity sealing and masking."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from controller.core.commands import RatingChannel, RatingLevel
from controller.haochaping.adapters.base import Verdict
from controller.haochaping.adapters.json_v1 import JsonV1Adapter
from controller.haochaping.followup import follow_up_link, follow_up_token, token_is_valid
from controller.haochaping.keys import KeyFileError, load_or_create_keys, secrets_path
from controller.haochaping.privacy import PrivacyError, mask, seal, split_contact, unseal
from controller.haochaping.records import RatingRecord

ADAPTER = JsonV1Adapter("http://platform/api", ZoneInfo("Asia/Shanghai"))


def rating(level: RatingLevel) -> RatingRecord:
    return RatingRecord(
        record_id="h-7-0",
        hall="h",
        ticket=1,
        case_number="330999ABC",
        item_code="A1",
        item_name="社保",
        department_code="113309990026000004",
        department_name="局",
        region_code="330999",
        window=3,
        window_name="3号窗口",
        staff_id="01",
        staff_name="王芳",
        channel=RatingChannel.WINDOW_PAD,
        level=level,
        reasons=("wait",),
        reason_codes=("01",),
        text="",
        rated_at=1_795_395_600_000,
        follow_up=False,
        rater_kind=None,
        anonymous=True,
    )


def test_json_v1_counts_grades_the_provincial_way() -> None:
    grades = [ADAPTER.payload(rating(level))["grade"] for level in RatingLevel]
    assert grades == [5, 4, 3, 2, 1]  # 非常满意 ... 非常不满意


def test_json_v1_request_fields() -> None:
    request = ADAPTER.request(rating(RatingLevel.DISSATISFIED))
    body = json.loads(request.body)
    assert body["evalTime"] == "2026-11-23 09:00:00" and body["reasonCodes"] == "01"
    assert request.headers["X-Request-Id"] == "h-7-0"
    assert "社保".encode() in request.body  # UTF-8, not \\u escapes


@pytest.mark.parametrize(
    ("status", "body", "verdict"),
    [
        (200, b'{"code": 0}', Verdict.DELIVERED),
        (200, b'{"code": 1001}', Verdict.DELIVERED),
        (200, b'{"code": 4001}', Verdict.REJECTED),
        (200, b"<html>", Verdict.RETRY),
        (503, b"", Verdict.RETRY),
        (429, b"", Verdict.RETRY),
        (400, b"", Verdict.REJECTED),
    ],
)
def test_json_v1_verdicts(status: int, body: bytes, verdict: Verdict) -> None:
    assert ADAPTER.verdict(status, body) is verdict


def test_follow_up_tokens_bind_hall_and_ticket() -> None:
    key = b"k" * 32
    token = follow_up_token(key, "qx", 42)
    assert token_is_valid(key, "qx", 42, token)
    assert not token_is_valid(key, "qx", 43, token)
    assert not token_is_valid(key, "other", 42, token)
    assert not token_is_valid(b"x" * 32, "qx", 42, token)
    assert not token_is_valid(key, "qx", 42, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert follow_up_link("https://h.gov.cn/hcp/", key, "qx", 42).endswith(f"/qx/42?t={token}")


def test_identities_are_sealed_and_masked() -> None:
    key = bytes(range(32))
    sealed = seal("张三 13812345678", key)
    assert "张三" not in sealed and sealed != seal("张三 13812345678", key)
    assert unseal(sealed, key) == "张三 13812345678"
    with pytest.raises(PrivacyError):
        unseal(sealed, bytes(32))
    with pytest.raises(PrivacyError):
        unseal(sealed[:-4] + "AAAA", key)
    assert mask("张三") == "张*" and mask("欧阳娜娜") == "欧***" and mask("张") == "张*"
    assert mask("13812345678") == "138****5678" and mask("") == ""


def test_keys_are_generated_once_private_and_checked(tmp_path: Path) -> None:
    path = secrets_path(tmp_path / "hall.db", "")
    assert path == tmp_path / "hall.db.secrets"
    keys = load_or_create_keys(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_keys(path) == keys
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(KeyFileError):
        load_or_create_keys(path)


@pytest.mark.parametrize(
    ("left", "name", "phone"),
    [
        ("张三 13812345678", "张三", "13812345678"),
        ("13812345678", "", "13812345678"),
        ("欧阳娜娜，138-1234-5678", "欧阳娜娜", "13812345678"),
        ("王五 0571-8765 4321 下午可联系", "王五 下午可联系", "057187654321"),
        ("李四", "李四", ""),
        ("赵六 123", "赵六 123", ""),  # too short for a phone number
        ("+86 13812345678 钱七", "钱七", "+8613812345678"),
    ],
)
def test_an_opened_contact_is_split_into_name_and_phone(left: str, name: str, phone: str) -> None:
    contact = split_contact(left)
    assert (contact.text, contact.name, contact.phone) == (left, name, phone)

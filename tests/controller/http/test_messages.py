"""The message table: a Chinese sentence for every ``RejectReason`` and every error code the
sources raise (found by reading them, so a new code without a sentence fails here), facts
filled in, and the API's refusals carrying it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.auth.directory import STORE_UNAVAILABLE
from controller.core import commands as c
from controller.core.lifecycle import RejectReason
from controller.http import messages
from tests.controller.http.console_app import HALL, Console, console_app

ROOT = Path(__file__).resolve().parents[3]
HAN = re.compile(r"[\u4e00-\u9fff]")
RAISED = [
    re.compile(r'\berror\(\s*\d+,\s*"([a-z_]+)"'),
    re.compile(r'\bRefused\(\s*"([a-z_]+)"'),
    re.compile(r'\bAccessError\(\s*"([a-z_]+)"'),
    re.compile(r'\bBadBody\(\s*\d+,\s*"([a-z_]+)"'),
    re.compile(r'\b_BadRequest\(\s*"([a-z_]+)"'),
    re.compile(r'\bcode="([a-z_]+)"'),
]
SAMPLE = {
    "window": 11,
    "other_window": 3,
    "number": "A023",
    "staff": "1001",
    "holder": "1002",
    "state": "serving",
    "op": "pause",
    "count": 3,
    "service": "A",
    "case": 7,
    "hall": "demo",
    "user": "wang",
    "kiosk": "kiosk-1",
    "problem": "请求内容不是有效的 JSON",
}


def raised_codes() -> set[str]:
    codes: set[str] = {STORE_UNAVAILABLE}
    for folder in ("controller/http", "controller/auth", "controller/cli", "devices"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for pattern in RAISED:
                codes.update(pattern.findall(text))
    return codes


def test_every_reject_reason_has_a_sentence() -> None:
    assert set(messages.REJECTIONS) == set(RejectReason)


def test_every_code_the_sources_raise_has_a_sentence() -> None:
    codes = raised_codes()
    assert {"unknown_hall", "printer_unavailable", "bad_credentials", "too_large"} <= codes
    reasons = {r.value for r in RejectReason}
    missing = sorted(code for code in codes - reasons if code not in messages.CODES)
    assert missing == []


@pytest.mark.parametrize("code", [r.value for r in RejectReason] + sorted(messages.CODES))
def test_sentences_are_chinese_with_every_fact_filled(code: str) -> None:
    full, plain = messages.text(code, SAMPLE), messages.text(code, {})
    for sentence in (full, plain):
        assert HAN.search(sentence) and "{" not in sentence and "}" not in sentence, sentence
        assert not re.search(r"\b(window|ticket|serving|idle|calling)\b", sentence), sentence


def test_window_busy_names_window_state_and_operation() -> None:
    facts = messages.command_facts(c.Pause(window=11)) | {"window": 11, "state": "serving"}
    assert messages.text("window_busy", facts) == (
        "11号窗口正在办理业务，不能直接暂停（可选“办完当前号后暂停”）"
    )
    assert messages.text("window_busy", {}) == "窗口正忙，不能进行此操作"


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    async with console_app() as app:
        yield app


async def test_api_refusal_carries_the_chinese_message(console: Console) -> None:
    csrf = await console.login("op")
    url = f"/api/v1/halls/{HALL}/commands"
    for body in (
        {"type": "login", "window": 1, "staff": "1001"},
        {"type": "issue_ticket", "service": "A"},
        {"type": "call_next", "window": 1},
    ):
        assert (await console.post(url, body, csrf)).status == 200
    refused = await console.post(url, {"type": "pause", "window": 1}, csrf)
    reply = await refused.json()
    assert refused.status == 409
    assert reply["code"] == "window_busy"
    assert reply["message"] == "1号窗口正在呼叫，不能直接暂停（可选“办完当前号后暂停”）"
    assert reply["detail"] == "window 1 is calling; cannot pause"
    later = {"type": "pause", "window": 1, "after_current": True, "reason": "午休"}
    accepted = await console.post(url, later, csrf)
    assert accepted.status == 200, await accepted.text()
    assert (await accepted.json())["events"][0]["e"] == "pause_requested"
    unknown = await console.client.get("/api/v1/halls/nowhere/tickets")
    assert (await unknown.json())["message"] == "没有大厅“nowhere”"

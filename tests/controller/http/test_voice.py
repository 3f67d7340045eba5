"""The call announcement is checked the way a citizen meets it: by what espeak-ng says.

espeak-ng's phoneme output (``-x``) shows each syllable with its tone, and marks a switch to
another language as ``(en)``. `make test` installs espeak-ng (scripts/system-packages.sh), so
these tests run everywhere the suite does.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from controller.http.voice import VOICE, spoken_text

ESPEAK = shutil.which("espeak-ng")


def phonemes(text: str) -> str:
    assert ESPEAK, "espeak-ng missing: scripts/system-packages.sh test installs it"
    done = subprocess.run(
        [ESPEAK, "-v", VOICE, "-q", "-x", text], capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.mark.parametrize(
    ("number", "window", "recall"),
    [("A023", 3, False), ("A023", 3, True), ("AB107", 11, True), ("Z999", 20, False)],
)
def test_every_syllable_is_mandarin(number: str, window: int, recall: bool) -> None:
    said = phonemes(spoken_text(number, window, recall=recall))
    assert "(en)" not in said, said  # no English-spoken pinyin ("qing three")
    assert "X'Au51" in said  # 号 hào
    assert "kh'ou21" in said and "p'a51n" in said  # 窗口 ... 办


def test_ticket_digits_are_read_one_by_one() -> None:
    said = phonemes(spoken_text("A023", 3, recall=False))
    # 零 二 三, not 零 二十三 (which would carry s.i. for 十)
    assert "l'i35N_| '@r51_| s'a55n" in said, said
    assert "s.i." not in said.split("X'Au51")[0], said


def test_recall_is_chong_hu_not_zhong_hu() -> None:
    said = phonemes(spoken_text("A023", 3, recall=True))
    assert said.startswith("ts.hong35X'u55"), said  # chóng hū
    assert "ts.'ong51" not in said  # zhòng


def test_the_default_mandarin_voice_would_fail_these_checks() -> None:
    """Why VOICE is not ``cmn``: the same text there switches to English."""
    assert ESPEAK
    done = subprocess.run(
        [ESPEAK, "-v", "cmn", "-q", "-x", "请A023号到3号窗口办理"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "(en)" in done.stdout

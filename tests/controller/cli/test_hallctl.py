"""The command line as operations staff use it: check-config verdicts and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.cli.hallctl import main

ROOT = Path(__file__).resolve().parents[3]
BROKEN = sorted((ROOT / "examples" / "broken").glob("*.toml"))


@pytest.mark.parametrize("name", ["demo-hall.toml", "small-hall.toml"])
def test_examples_pass(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(ROOT / "examples" / name)]) == 0
    assert capsys.readouterr().out.startswith("OK: hall ")


@pytest.mark.parametrize("path", BROKEN, ids=[p.name for p in BROKEN])
def test_broken_examples_print_exactly_the_expected_problems(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["check-config", str(path.relative_to(ROOT))]) == 1
    expected = path.with_suffix(".expected").read_text(encoding="utf-8")
    assert capsys.readouterr().err == expected


def test_unknown_serial_protocol_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "examples" / "small-hall.toml").read_text(encoding="utf-8")
    assert 'protocol = "keypad_bus"' in text
    bad = tmp_path / "hall.toml"
    bad.write_text(
        text.replace('protocol = "keypad_bus"', 'protocol = "keypad_buss"', 1), encoding="utf-8"
    )
    assert main(["check-config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "keypad_buss" in err and "keypad_bus" in err.replace("keypad_buss", "")

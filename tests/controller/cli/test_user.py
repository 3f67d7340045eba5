"""``hallctl user add``: the first admin from the command line; refused beside a running daemon."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from controller.cli.hallctl import main
from controller.daemon.ownership import acquire_log_lock

ROOT = Path(__file__).resolve().parents[3]


def run(monkeypatch: pytest.MonkeyPatch, args: list[str], password: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main(["--log-level", "warning", *args])


def test_add_admin_with_a_token_then_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "hall.db")
    add = ["user", "add", "chief", "--password-stdin", "--token", "scraper", "--db", db]
    assert run(monkeypatch, add, "long-enough-pw") == 0
    out = capsys.readouterr().out
    assert "added chief (admin)" in out and "hct_" in out
    assert main(["user", "list", "--db", db]) == 0
    assert capsys.readouterr().out.startswith("chief\tadmin\tenabled")


def test_weak_password_and_duplicate_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "hall.db")
    assert run(monkeypatch, ["user", "add", "a", "--password-stdin", "--db", db], "short") == 2
    assert "weak_password" in capsys.readouterr().err
    assert run(monkeypatch, ["user", "add", "a", "--password-stdin", "--db", db], "long-pw-1") == 0
    assert run(monkeypatch, ["user", "add", "a", "--password-stdin", "--db", db], "long-pw-2") == 2
    assert "user_exists" in capsys.readouterr().err


async def test_refused_while_the_daemon_holds_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "hall.db"
    lock = await acquire_log_lock(db)
    try:
        from controller.cli.hallctl import build_parser
        from controller.cli.user import add_user_main

        args = build_parser().parse_args(["user", "add", "x", "--db", str(db)])
        assert await add_user_main(args, "long-enough-pw") == 2
        assert "in use" in capsys.readouterr().err
    finally:
        lock.release()


def hallctl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI in a new session (no controlling terminal); stdin the text, or /dev/null."""
    return subprocess.run(
        [sys.executable, "-m", "controller.cli.hallctl", *args],
        cwd=ROOT,
        **({"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}),
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
    )


def test_without_a_terminal_it_points_at_password_stdin(tmp_path: Path) -> None:
    db = tmp_path / "hall.db"
    done = hallctl("user", "add", "chief", "--token", "scraper", "--db", str(db))
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()  # one line, no traceback
    assert line.startswith("user add: 没有终端可输入密码") and "--password-stdin" in line
    assert done.stdout == "" and not db.exists()  # nothing written


def test_password_stdin_from_a_pipe_adds_the_account(tmp_path: Path) -> None:
    db = str(tmp_path / "hall.db")
    add = ["user", "add", "chief", "--password-stdin", "--token", "scraper", "--db", db]
    done = hallctl(*add, stdin="long-enough-pw\n")
    assert done.returncode == 0, done.stderr
    assert "added chief (admin)" in done.stdout and "hct_" in done.stdout
    listed = hallctl("user", "list", "--db", db)
    assert listed.stdout.startswith("chief\tadmin\tenabled")

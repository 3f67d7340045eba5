"""The OpenAPI document validates, and schemathesis (property-based requests generated from it,
run against a real daemon with devices and an admin token) finds no 5xx answer."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import ARTIFACTS, admin_token, demo_config, start_daemon

SCHEMATHESIS = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        not Path(SCHEMATHESIS).exists(), reason="schemathesis is a dev dependency (.[dev])"
    ),
]


async def test_no_server_errors_across_the_api(mosquitto: Any, tmp_path: Path) -> None:
    config, text = demo_config(mosquitto)
    running = await start_daemon(config, text, tmp_path / "hall.db")
    try:
        token = await admin_token(running.url)
        process = await asyncio.create_subprocess_exec(
            SCHEMATHESIS,
            "run",
            f"{running.url}/api/v1/openapi.json",
            "--checks",
            "not_a_server_error",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            "25",
            "--generation-deterministic",
            "--exclude-path-regex",
            # /live: an endless event stream; /tokens/: revoking its own token ends the run.
            "/live$|/tokens/",
            "--request-timeout",
            "10",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await process.communicate()
    finally:
        await running.close()
    report = out.decode(errors="replace")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "schemathesis.txt").write_text(report)
    assert "Schema Loading Error" not in report, report[-3000:]
    assert process.returncode == 0, report[-4000:]

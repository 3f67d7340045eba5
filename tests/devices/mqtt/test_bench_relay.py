"""The relay benchmark stays runnable (``hallctl bench`` will call it); figures are not judged."""

from __future__ import annotations

import pytest

from benchmarks.bench_mqtt_relay import run_relay_bench


@pytest.mark.slow
@pytest.mark.parametrize(("relay", "qos"), [("bare", 0), ("link", 1)])
def test_relay_bench_completes_every_round_trip(relay: str, qos: int) -> None:
    result = run_relay_bench(devices=3, messages=300, warmup=30, window=10, relay=relay, qos=qos)
    assert result.messages == 300 and result.msgs_per_s > 0
    assert 0 < result.p50_ms <= result.p99_ms


def test_bare_relay_refuses_qos_1() -> None:
    with pytest.raises(ValueError, match="flow control"):
        run_relay_bench(relay="bare", qos=1)

"""What keeps the device layer bounded: LRUs, the reply cache, token buckets, quiet warnings."""

from __future__ import annotations

import pytest

from devices.lru import Lru
from devices.replies import KEEP_S, PER_DEVICE, ReplyCache
from devices.throttle import BURST, RATE, QuietWarning, TokenBucket, Verdict
from firmware_protocols import mqtt_v1 as proto


def test_lru_forgets_the_least_recently_used_and_counts_it() -> None:
    lru: Lru[str, int] = Lru(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # a is now the most recent
    lru.put("c", 3)
    assert "b" not in lru and lru.get("a") == 1 and lru.get("c") == 3
    assert (len(lru), lru.evicted) == (2, 1)
    with pytest.raises(ValueError):
        Lru(0)


def _reply(rid: int) -> proto.Reply:
    return proto.Reply(id=rid + 1, rid=rid, ok=True)


def test_reply_cache_keeps_answers_for_the_retry_horizon_only() -> None:
    cache = ReplyCache()
    cache.put("kp", 1, _reply(1), 100.0)
    assert cache.get("kp", 1, 100.0 + KEEP_S) == _reply(1)
    assert cache.get("kp", 1, 100.0 + KEEP_S + 0.1) is None
    assert cache.get("other", 1, 100.0) is None
    cache.expire(100.0 + KEEP_S + 0.1)
    assert len(cache) == 0 and cache.evicted == 0  # expiry is not an early drop


def test_reply_cache_holds_at_most_per_device_answers_per_device() -> None:
    cache = ReplyCache()
    for rid in range(PER_DEVICE + 5):
        cache.put("kp", rid, _reply(rid), 100.0)
    cache.put("pad", 1, _reply(1), 100.0)
    assert len(cache) == PER_DEVICE + 1 and cache.evicted == 5
    assert cache.get("kp", 4, 100.0) is None and cache.get("kp", 5, 100.0) is not None


def test_bucket_passes_the_burst_then_the_rate_and_tells_once_a_second() -> None:
    bucket = TokenBucket(stamp=0.0)
    verdicts = [bucket.take(0.0) for _ in range(int(BURST) + 3)]
    assert verdicts[: int(BURST)] == [Verdict.PASS] * int(BURST)
    assert verdicts[int(BURST) :] == [Verdict.TELL, Verdict.DROP, Verdict.DROP]
    assert not bucket.admits(0.5 / RATE)  # half a token back, and the refusal was told
    assert bucket.admits(1.0 / RATE) and bucket.take(1.0 / RATE) is Verdict.PASS
    assert bucket.take(1.0 / RATE) is Verdict.DROP
    assert bucket.admits(1.5) and bucket.take(1.5) is Verdict.PASS  # refilled
    assert bucket.tokens <= BURST


def test_quiet_warning_reports_once_per_period_with_the_count() -> None:
    warning = QuietWarning(10.0)
    assert warning.due(0.0) == 1
    assert [warning.due(t) for t in (1.0, 2.0, 9.9)] == [None, None, None]
    assert warning.due(10.0) == 4

"""Protocol v1 codec: round trips, every error reason from real bad bytes, topics, and fuzzing."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_protocols import mqtt_v1 as p
from firmware_protocols.base import EncodeError

ROOT = Path(__file__).resolve().parents[2]
R = p.PayloadErrorReason


def _load_examples() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "mqtt_examples", ROOT / "docs" / "protocol" / "mqtt_examples.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXAMPLES: dict[str, p.UpMessage | p.DownMessage] = _load_examples().EXAMPLES


def _packb(obj: object) -> bytes:
    return msgspec.msgpack.encode(obj)


def _reason(payload: bytes, decode=p.decode_up) -> p.PayloadErrorReason:  # type: ignore[no-untyped-def]
    with pytest.raises(p.PayloadError) as info:
        decode(payload)
    assert info.value.detail  # a readable detail always comes with the reason
    return info.value.reason


# --- round trips -----------------------------------------------------------------------------


def test_examples_cover_every_message_type() -> None:
    tags = {type(m).__struct_config__.tag for m in EXAMPLES.values()}
    all_tags = {t.__struct_config__.tag for t in p.UP_TYPES + p.DOWN_TYPES}
    assert tags == all_tags
    states = {type(m.state) for m in EXAMPLES.values() if isinstance(m, p.Show)}
    assert states == {
        p.WindowDisplayState,
        p.CallerState,
        p.EvaluatorState,
        p.HallScreenState,
        p.KioskState,
    }


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_round_trip(name: str) -> None:
    msg = EXAMPLES[name]
    data = p.encode(msg)
    decode = p.decode_down if isinstance(msg, p.DOWN_TYPES) else p.decode_up
    assert decode(data) == msg
    raw = msgspec.msgpack.decode(data)
    assert list(raw)[:2] == ["t", "v"] and raw["v"] == 1


def test_every_press_op_round_trips() -> None:
    args: dict[p.PressOp, dict[str, object]] = {
        p.PressOp.LOGIN: {"staff": "A0123"},
        p.PressOp.CALL_NUMBER: {"number": "A012"},
        p.PressOp.CALL_BACK: {"number": "A012"},
        p.PressOp.TRANSFER: {"window": 4},
    }
    for op in p.PressOp:
        msg = p.Press(rid=1, op=op, **args.get(op, {}))  # type: ignore[arg-type]
        assert p.decode_up(p.encode(msg)) == msg


def test_status_decoder_reads_birth_and_will_only() -> None:
    birth = p.Birth(session=1, kind=p.DeviceKind.CONTROLLER, fw="hallctl 0.1")
    assert p.decode_status(p.encode(birth)) == birth
    assert _reason(p.encode(p.RebirthRequest()), p.decode_status) is R.UNKNOWN_TYPE


def test_unknown_keys_are_ignored_for_forward_compatibility() -> None:
    payload = _packb({"t": "will", "v": 1, "session": 3, "battery": 80})
    assert p.decode_up(payload) == p.Will(session=3)


def test_optional_keys_may_be_absent() -> None:
    payload = _packb({"t": "press", "v": 1, "rid": 5, "op": "call_next"})
    assert p.decode_up(payload) == p.Press(rid=5, op=p.PressOp.CALL_NEXT)


def test_rating_levels_are_higher_is_better() -> None:
    assert p.RatingLevel(1) is p.RatingLevel.VERY_DISSATISFIED
    assert p.RatingLevel(5) is p.RatingLevel.VERY_SATISFIED
    payload = _packb({"t": "rating", "v": 1, "rid": 1, "rating_id": "x", "ticket": 9, "level": 6})
    assert _reason(payload) is R.INVALID_FIELD


# --- every error reason, from real bad payloads -----------------------------------------------


def test_oversized_is_refused_before_decoding() -> None:
    payload = _packb({"t": "will", "v": 1, "session": 1, "pad": "x" * p.MAX_PAYLOAD})
    assert _reason(payload) is R.OVERSIZED


@pytest.mark.parametrize(
    "payload",
    [
        b"\xc1",
        b"hello",
        b"\x81\xa1t\xa4will\xff",
        b"\xa3\x00\x00\x80",  # str with invalid UTF-8 (found by Hypothesis)
    ],
)
def test_not_msgpack(payload: bytes) -> None:
    assert _reason(payload) is R.NOT_MSGPACK


def test_trailing_garbage_is_not_msgpack() -> None:
    assert _reason(p.encode(p.Will(session=1)) + b"\x00") is R.NOT_MSGPACK


@pytest.mark.parametrize("cut", [0, 1, 5, 19])
def test_truncated(cut: int) -> None:
    payload = p.encode(p.Will(session=1))
    assert _reason(payload[:cut]) is R.TRUNCATED


@pytest.mark.parametrize(
    "obj",
    [
        {"t": "will", "session": 1},
        {"t": "will", "v": 2, "session": 1},
        {"t": "will", "v": "1", "session": 1},
        {"t": "will", "v": True, "session": 1},
    ],
)
def test_wrong_version(obj: dict[str, object]) -> None:
    assert _reason(_packb(obj)) is R.WRONG_VERSION


def test_unknown_type_and_wrong_direction() -> None:
    assert _reason(_packb({"t": "explode", "v": 1})) is R.UNKNOWN_TYPE
    assert _reason(_packb({"v": 1})) is R.UNKNOWN_TYPE
    assert _reason(_packb({"t": 7, "v": 1})) is R.UNKNOWN_TYPE
    assert _reason(p.encode(EXAMPLES["rebirth"])) is R.UNKNOWN_TYPE
    assert _reason(p.encode(EXAMPLES["press (login)"]), p.decode_down) is R.UNKNOWN_TYPE


@pytest.mark.parametrize(
    "obj",
    [
        [1, 2, 3],  # not a map
        {"t": "will", "v": 1},  # missing field
        {"t": "will", "v": 1, "session": -1},  # out of range
        {"t": "press", "v": 1, "rid": 1, "op": "dance"},  # unknown enum value
        {"t": "press", "v": 1, "rid": 1, "op": "login"},  # login without staff
        {"t": "press", "v": 1, "rid": 1, "op": "call_next", "number": "A1"},  # stray argument
        {"t": "press", "v": 1, "rid": 1, "op": "transfer", "service": "a", "window": 2},
        {"t": "ack", "v": 1, "id": 1, "ok": False},  # failed ack without code
        {"t": "take_ticket", "v": 1, "rid": 1, "service": "bad id!"},
    ],
)
def test_invalid_field(obj: object) -> None:
    assert _reason(_packb(obj)) is R.INVALID_FIELD


def test_invalid_evaluator_state_is_invalid_field_down() -> None:
    obj = {
        "t": "show",
        "v": 1,
        "id": 1,
        "ver": 1,
        "state": {"kind": "evaluator", "mode": "invite", "window": "3"},  # invite without ticket
    }
    assert _reason(_packb(obj), p.decode_down) is R.INVALID_FIELD


# --- encoding refuses what a device would refuse ----------------------------------------------


def test_encode_refuses_constraint_violations() -> None:
    too_many_lines = p.WindowDisplayState(mode=p.DisplayMode.IDLE, lines=["x"] * 9)
    with pytest.raises(EncodeError, match="show"):
        p.encode(p.Show(id=1, ver=1, state=too_many_lines))


def test_encode_refuses_oversized() -> None:
    services = [p.KioskService(id=f"s{i}", name="很长的业务名称" * 9, waiting=1) for i in range(64)]
    with pytest.raises(EncodeError, match="limit"):
        p.encode(p.Show(id=1, ver=1, state=p.KioskState(services=services)))


def test_constructors_check_cross_field_rules() -> None:
    with pytest.raises(ValueError, match="staff"):
        p.Press(rid=1, op=p.PressOp.LOGIN)
    with pytest.raises(ValueError, match="code"):
        p.Reply(id=1, rid=1, ok=False)


# --- availability rule ------------------------------------------------------------------------


def test_will_applies_only_to_the_session_of_the_last_birth() -> None:
    assert p.will_applies(7, p.Will(session=7))
    assert not p.will_applies(8, p.Will(session=7))  # stale will from the previous connection
    assert not p.will_applies(None, p.Will(session=7))


# --- topics -----------------------------------------------------------------------------------


def test_topics() -> None:
    assert p.up_topic("main", "kp-03") == "hallctl/v1/main/dev/kp-03/up"
    assert p.down_topic("main", "kp-03") == "hallctl/v1/main/dev/kp-03/down"
    assert p.status_topic("main", "kp-03") == "hallctl/v1/main/dev/kp-03/status"
    assert p.controller_status_topic("main") == "hallctl/v1/main/controller/status"
    assert p.up_filter("main") == "hallctl/v1/main/dev/+/up"
    assert p.status_filter("main") == "hallctl/v1/main/dev/+/status"


@pytest.mark.parametrize("bad", ["", "a/b", "+", "#", "大厅", "x" * 65, "a b", "a\n"])
def test_bad_ids_are_refused(bad: str) -> None:
    with pytest.raises(p.TopicError):
        p.up_topic(bad, "kp")
    with pytest.raises(p.TopicError):
        p.down_topic("main", bad)


def test_parse_topic() -> None:
    assert p.parse_topic("hallctl/v1/main/dev/kp-03/up") == p.TopicAddress(
        "main", "kp-03", p.Channel.UP
    )
    assert p.parse_topic("hallctl/v1/main/controller/status") == p.TopicAddress(
        "main", None, p.Channel.CONTROLLER_STATUS
    )
    for bad in ["hallctl/v2/main/dev/x/up", "hallctl/v1/main/dev/x/sideways", "hallctl/v1/m"]:
        with pytest.raises(p.TopicError):
            p.parse_topic(bad)


# --- the spec shows what the encoder really produces -----------------------------------------


def test_spec_hex_dumps_match_the_encoder() -> None:
    spec = (ROOT / "docs" / "protocol" / "mqtt.md").read_text(encoding="utf-8")
    blocks = re.findall(r"#### `([^`]+)` \((\d+) bytes\).*?```hex\n(.*?)\n```", spec, re.S)
    assert {name for name, _, _ in blocks} == set(EXAMPLES)
    for name, size, hex_text in blocks:
        data = bytes.fromhex(hex_text.replace("\n", " "))
        assert data == p.encode(EXAMPLES[name]), name
        assert len(data) == int(size)


# --- fuzzing ----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_give_a_message_or_payload_error(data: bytes) -> None:
    for decode in (p.decode_up, p.decode_down, p.decode_status):
        try:
            msg = decode(data)
        except p.PayloadError as exc:
            assert isinstance(exc.reason, p.PayloadErrorReason)
        else:
            assert isinstance(msg, p.Message)


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(sorted({t.__struct_config__.tag for t in p.UP_TYPES + p.DOWN_TYPES})),
    st.sampled_from([1, 1, 1, 2]),
    st.dictionaries(
        st.sampled_from(["rid", "id", "op", "session", "ok", "ticket", "level", "state", "x"]),
        _values,
    ),
)
def test_any_well_formed_map_gives_a_message_or_payload_error(
    tag: str, version: int, fields: dict[str, object]
) -> None:
    data = _packb({"t": tag, "v": version, **fields})
    for decode in (p.decode_up, p.decode_down):
        try:
            decode(data)
        except p.PayloadError as exc:
            assert exc.reason is not R.NOT_MSGPACK


# --- hostile nesting and the request id of a refused payload ---------------------------------


_DEEP_FIELD = b"\x84\xa1t\xabtake_ticket\xa1v\x01\xa3rid\x05\xa7service" + b"\x91" * 4000 + b"\x01"


@pytest.mark.parametrize(
    ("payload", "rid"),
    [
        (b"\x91" * 4095 + b"\x01", None),  # 4 KB of nested arrays: no map, no rid
        (b"\x81\xa1x" + b"\x91" * 4000 + b"\x01", None),  # nested in an unknown key, no rid
        (_DEEP_FIELD, 5),  # nested in a field after a readable rid
        (b"\xde\x00\x01\xa1x" + b"\xdc\x00\x01" * 1300 + b"\x01", None),  # array16 nesting
    ],
)
def test_deep_nesting_is_an_invalid_field_not_a_crash(payload: bytes, rid: int | None) -> None:
    assert len(payload) <= p.MAX_PAYLOAD
    for decode in (p.decode_up, p.decode_status, p.decode_down):
        with pytest.raises(p.PayloadError) as info:
            decode(payload)
        assert info.value.reason is R.INVALID_FIELD
        assert info.value.rid == rid


def test_a_readable_rid_is_carried_by_the_payload_error() -> None:
    whole = p.encode(p.TakeTicket(rid=77, service="A"))
    cases = {
        whole[:-4]: (R.TRUNCATED, 77),
        _packb({"t": "take_ticket", "v": 2, "rid": 78}): (R.WRONG_VERSION, 78),
        _packb({"t": "take_ticket", "v": 1, "rid": 79, "service": 5}): (R.INVALID_FIELD, 79),
        _packb({"t": "take_ticket", "v": 1, "rid": 2**32, "service": "A"}): (R.INVALID_FIELD, None),
        _packb({"t": "take_ticket", "v": 1, "rid": -1, "service": "A"}): (R.INVALID_FIELD, None),
        _packb({"t": "take_ticket", "v": 1, "rid": "7", "service": "A"}): (R.INVALID_FIELD, None),
        b"\xc1\xc1 not msgpack": (R.NOT_MSGPACK, None),
        _packb({"t": "ping", "v": 1}) + b"\x00" * 5000: (R.OVERSIZED, None),  # never read
    }
    for payload, (reason, rid) in cases.items():
        with pytest.raises(p.PayloadError) as info:
            p.decode_up(payload)
        assert (info.value.reason, info.value.rid) == (reason, rid), payload[:20]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256), st.integers(0, 2**32 - 1))
def test_peeking_a_rid_never_raises_and_finds_a_leading_one(tail: bytes, rid: int) -> None:
    from firmware_protocols.msgpack_peek import peek_int

    assert peek_int(tail, "rid") is None or isinstance(peek_int(tail, "rid"), int)
    # A map whose first key is rid: readable whatever garbage follows.
    assert peek_int(b"\x83\xa3rid" + _packb(rid) + tail, "rid") == rid


# --- signed ratings: the worked example of section 6.5 is what the code computes ---------------


def test_spec_signing_example_is_checkable() -> None:
    from firmware_protocols import rating_mac

    spec = (ROOT / "docs" / "protocol" / "mqtt.md").read_text(encoding="utf-8")
    section = spec[spec.index("### 6.5") : spec.index("## 7.")]
    key = bytes.fromhex(re.search(r"```key\n(.*?)\n```", section, re.S)[1].replace("\n", " "))
    canonical = re.search(r"```canonical\n(.*?)\n```", section, re.S)[1].encode("ascii")
    canonical_hex = re.search(r"```hex\n(.*?)\n```", section, re.S)[1]
    mac = bytes.fromhex(re.search(r"```mac\n(.*?)\n```", section, re.S)[1].replace("\n", " "))
    assert bytes.fromhex(canonical_hex.replace("\n", " ")) == canonical
    # A vendor's check: HMAC-SHA256(key, canonical) is the MAC, which is the `mac` the
    # section 4 `rating` example carries, made from that rating's fields.
    assert hmac.new(key, canonical, hashlib.sha256).digest() == mac
    signed = EXAMPLES["rating"]
    assert isinstance(signed, p.Rating) and signed.mac == mac and signed.counter == 7
    device_key = rating_mac.DeviceKey(key_id=signed.key_id or "", secret=key)
    assert rating_mac.check(device_key, "baishi", "pad-03", signed) is rating_mac.Signature.VALID
    assert rating_mac.canonical("baishi", "pad-03", "k1", 7, signed) == canonical
    timeout = EXAMPLES["rating_timeout"]
    assert isinstance(timeout, p.RatingTimeout)
    assert rating_mac.check(device_key, "baishi", "pad-03", timeout) is rating_mac.Signature.VALID
    assert rating_mac.check(device_key, "baishi", "pad-04", signed) is rating_mac.Signature.BAD_MAC


def test_spec_display_example_is_what_the_controller_sends() -> None:
    """§3.2 and §4: the strip's lines are specified, and the example is the controller's text."""
    from controller.core import commands as c
    from controller.core.engine import HallEngine
    from devices.views import HallExtras, display_view
    from tests.controller.halls import MONDAY_9AM, small_hall

    engine = HallEngine(small_hall())
    engine.handle(c.IssueTicket(service="A"), MONDAY_9AM)
    engine.handle(c.Login(window=1, staff="1001"), MONDAY_9AM + 1)
    engine.handle(c.CallNext(window=1), MONDAY_9AM + 2)
    view = display_view(engine.state, 1, HallExtras())
    example = EXAMPLES["show (window_display)"]
    assert isinstance(example, p.Show) and isinstance(example.state, p.WindowDisplayState)
    assert view.lines == ["请A001号到1号窗口办理"] and view.blink
    assert [line.replace("A012", "A001").replace("3号", "1号") for line in example.state.lines] == (
        view.lines
    )
    spec = (ROOT / "docs" / "protocol" / "mqtt.md").read_text(encoding="utf-8")
    assert 'calling `["请A012号到3号窗口办理"]`' in spec

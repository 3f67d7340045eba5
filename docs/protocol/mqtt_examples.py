"""One example of every hallctl MQTT v1 message, and the Markdown that shows their bytes.

docs/protocol/mqtt.md pastes the output of ``python docs/protocol/mqtt_examples.py``;
tests/firmware_protocols/test_mqtt_v1.py checks that every hex dump in the spec is still what
the encoder produces, so the document cannot drift from the code.
"""

from __future__ import annotations

import json
import textwrap

import msgspec

from firmware_protocols import mqtt_v1 as p
from firmware_protocols import rating_mac

# The signing example (section 6.5): pad "pad-03" of hall "baishi", key 00 01 02 ... 1f.
SIGNING_HALL = "baishi"
SIGNING_DEVICE = "pad-03"
SIGNING_KEY = rating_mac.DeviceKey(key_id="k1", secret=bytes(range(32)))
SIGNING_RATING = p.Rating(
    rid=12,
    rating_id="42-7",
    ticket=1001,
    level=p.RatingLevel.DISSATISFIED,
    reasons=["slow", "attitude"],
    age_ms=1500,
)
SIGNING_COUNTER = 7
SIGNED_RATING = rating_mac.sign(
    SIGNING_KEY, SIGNING_HALL, SIGNING_DEVICE, SIGNING_COUNTER, SIGNING_RATING
)
SIGNED_TIMEOUT = rating_mac.sign(
    SIGNING_KEY, SIGNING_HALL, SIGNING_DEVICE, 8, p.RatingTimeout(rid=13, ticket=1002)
)

EXAMPLES: dict[str, p.UpMessage | p.DownMessage] = {
    # up
    "birth": p.Birth(session=42, kind=p.DeviceKind.CALLER, fw="1.4.2", model="KP-20"),
    "will": p.Will(session=42),
    "ack": p.Ack(id=1732262400000001, ok=True),
    "ack (failed)": p.Ack(id=1732262400000002, ok=False, code=p.AckError.PRINTER, text="paper out"),
    "press (login)": p.Press(rid=901, op=p.PressOp.LOGIN, staff="A0123"),
    "press (call_next)": p.Press(rid=902, op=p.PressOp.CALL_NEXT),
    "press (transfer)": p.Press(rid=903, op=p.PressOp.TRANSFER, service="housing"),
    "take_ticket": p.TakeTicket(rid=77, service="social_security", green=True),
    "printer_status": p.PrinterStatus(paper=p.PaperLevel.LOW),
    "rating": SIGNED_RATING,
    "rating_timeout": SIGNED_TIMEOUT,
    "rebirth_request": p.RebirthRequest(),
    # down
    "show (window_display)": p.Show(
        id=1732262400000003,
        ver=1732262400000003,
        state=p.WindowDisplayState(
            mode=p.DisplayMode.CALLING, lines=["请A012号到3号窗口办理"], blink=True
        ),
    ),
    "show (caller)": p.Show(
        id=1732262400000004,
        ver=1732262400000004,
        state=p.CallerState(window=p.WindowState.CALLING, current="A012", waiting=5, staff="王芳"),
    ),
    "show (evaluator)": p.Show(
        id=1732262400000005,
        ver=1732262400000005,
        state=p.EvaluatorState(
            mode=p.EvaluatorMode.INVITE,
            window="3号窗口",
            staff_name="王芳",
            staff_id="A0123",
            photo="http://192.168.10.2:8080/public/baishi/staff/A0123/photo",
            ticket=1001,
            seconds=20,
            reasons=[
                p.ReasonTag(id="slow", text="办理慢"),
                p.ReasonTag(id="attitude", text="态度差"),
            ],
        ),
    ),
    "show (hall_screen)": p.Show(
        id=1732262400000006,
        ver=1732262400000006,
        state=p.HallScreenState(
            calls=[p.CallEntry(number="A012", window="3号窗口")],
            waiting=[p.ServiceWaiting(service="housing", name="不动产登记", waiting=5)],
            notice="请对我们的服务进行评价",
        ),
    ),
    "show (kiosk)": p.Show(
        id=1732262400000007,
        ver=1732262400000007,
        state=p.KioskState(
            services=[
                p.KioskService(id="housing", name="不动产登记", waiting=5),
                p.KioskService(id="social_security", name="社保", waiting=0, enabled=False),
            ]
        ),
    ),
    "print_ticket": p.PrintTicket(
        id=1732262400000008,
        number="A013",
        service="不动产登记",
        ahead=5,
        wait_min=25,
        issued="2026-11-22 09:31",
        qr="http://hall.local/t/1003",
    ),
    "reply": p.Reply(id=1732262400000009, rid=77, ok=True, number="B004"),
    "reply (refused)": p.Reply(
        id=1732262400000010, rid=902, ok=False, code="queue_empty", text="无人等候"
    ),
    "rebirth": p.Rebirth(id=1732262400000011),
}


def hex_dump(data: bytes, width: int = 32) -> str:
    """Hex in lines of ``width`` bytes, as pasted in the spec."""
    return "\n".join(textwrap.wrap(data.hex(" "), width * 3 - 1))


def _json_view(msg: p.UpMessage | p.DownMessage) -> str:
    """The decoded form; a MAC (MessagePack bin) is shown as hex."""
    data = msgspec.to_builtins(msg, enc_hook=None)
    if isinstance(msg, p.Rating | p.RatingTimeout) and msg.mac is not None:
        data["mac"] = msg.mac.hex()
    return json.dumps(data, ensure_ascii=False)


def render_signing() -> str:
    """Section 6.5's worked example: key, canonical string, MAC."""
    canonical = rating_mac.canonical(
        SIGNING_HALL, SIGNING_DEVICE, SIGNING_KEY.key_id, SIGNING_COUNTER, SIGNING_RATING
    )
    tag = rating_mac.mac(SIGNING_KEY, SIGNING_HALL, SIGNING_DEVICE, SIGNING_COUNTER, SIGNING_RATING)
    return (
        f"Key `{SIGNING_KEY.key_id}` (32 bytes):\n\n```key\n{hex_dump(SIGNING_KEY.secret)}\n```\n\n"
        f"Canonical string ({len(canonical)} bytes; lines end with 0a, none at the end):\n\n"
        f"```canonical\n{canonical.decode('ascii')}\n```\n```hex\n{hex_dump(canonical)}\n```\n\n"
        f"HMAC-SHA256 (the `mac`, 32 bytes):\n\n```mac\n{hex_dump(tag)}\n```\n"
    )


def render() -> str:
    """Markdown blocks: decoded form as JSON, then the exact bytes."""
    out: list[str] = []
    for name, msg in EXAMPLES.items():
        data = p.encode(msg)
        decoded = _json_view(msg)
        out.append(f"#### `{name}` ({len(data)} bytes)\n")
        out.append(f"```json\n{decoded}\n```\n```hex\n{hex_dump(data)}\n```\n")
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    print(render_signing() if sys.argv[1:] == ["signing"] else render())

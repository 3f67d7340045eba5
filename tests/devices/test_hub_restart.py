"""Request ids survive a crash between the commit and the reply (docs/protocol/mqtt.md 6.2).

A real daemon, a bare protocol-v1 kiosk on a real Mosquitto. The daemon runs with the test hook
``HALLCTL_TEST_KILL_AFTER_COMMIT=1``: it SIGKILLs itself right after the first request's record
is durable, before the reply or the print go out. The kiosk, which got no reply, re-sends the
same rid to the restarted daemon and must get the first answer (same ticket number, same reply
id) and its slip, and the log must hold exactly one ticket.
"""

from __future__ import annotations

import signal
from pathlib import Path

from controller.core import events as ev
from devices.mqtt.mosquitto_process import MosquittoProcess
from firmware_protocols import mqtt_v1 as proto
from tests.devices.hall_daemon import HallDaemon, hall_device, logged_events, write_config


async def test_a_rid_resent_after_a_crash_gets_the_first_answer_not_a_second_ticket(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    db = tmp_path / "hall.db"
    config = write_config(tmp_path, mosquitto, db)
    crashing = HallDaemon(config, db, env={"HALLCTL_TEST_KILL_AFTER_COMMIT": "1"})
    await crashing.start()
    kiosk = hall_device(mosquitto, "kiosk-1", "kiosk")
    await kiosk.connect()
    first_show = await kiosk.wait_for(lambda m: isinstance(m, proto.Show), within=10)

    take = proto.TakeTicket(rid=4242, service="A")
    kiosk.send(take)
    assert await crashing.wait_exit(10) == -signal.SIGKILL
    assert not [m for m in kiosk.received if isinstance(m, proto.Reply | proto.PrintTicket)]
    crashed_log = await logged_events(config, db)
    [issued] = [e for e in crashed_log if isinstance(e, ev.TicketIssued)]
    [answered] = [e for e in crashed_log if isinstance(e, ev.RequestAnswered)]
    assert (answered.device, answered.rid, answered.number) == ("kiosk-1", 4242, issued.number)

    restarted = HallDaemon(config, db)
    await restarted.start()
    try:
        # The new daemon has seen the kiosk's retained birth once it sends a newer show.
        await kiosk.wait_for(lambda m: isinstance(m, proto.Show) and m.id > first_show.id, 10)
        kiosk.send(take)
        reply = await kiosk.reply_to(4242, within=5)
        assert reply.ok and reply.number == issued.number == "A001"
        assert reply.id == answered.reply, "the reply recorded before the crash"
        printed = await kiosk.wait_for(lambda m: isinstance(m, proto.PrintTicket), within=5)
        assert isinstance(printed, proto.PrintTicket)
        assert printed.number == "A001" and printed.id == answered.printed

        kiosk.received.clear()
        kiosk.send(take)  # and once more: still the same answer
        again = await kiosk.reply_to(4242, within=5)
        assert (again.id, again.number) == (reply.id, "A001")

        fresh = proto.TakeTicket(rid=4243, service="A")  # a new request is a new ticket
        kiosk.send(fresh)
        assert (await kiosk.reply_to(4243, within=5)).number == "A002"
    finally:
        await kiosk.disconnect()
        await restarted.stop()

    events = await logged_events(config, db)
    assert [e.number for e in events if isinstance(e, ev.TicketIssued)] == ["A001", "A002"]
    assert [e.rid for e in events if isinstance(e, ev.RequestAnswered)] == [4242, 4243]

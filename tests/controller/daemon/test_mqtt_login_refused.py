"""A broker that refuses the controller's login is an error people see, not a quiet retry loop:
``/healthz`` answers 503 with the reason, ``/metrics`` says so, the console raises an alert."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import aiohttp

from devices.mqtt.identity import Identity
from devices.mqtt.link import LinkConfig, MqttLink
from devices.mqtt.mosquitto_process import MosquittoProcess
from tests.e2e.harness import Api, admin_token, demo_config, start_daemon


async def until(condition: object, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_refused_login_shows_on_healthz_metrics_and_the_console(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    config, text = demo_config(mosquitto)
    config = replace(config, mqtt=replace(config.mqtt, password="not-the-password"))
    running = await start_daemon(config, text, tmp_path / "hall.db")
    hall = config.hall.id
    try:
        link = running.daemon.hubs[hall].link
        await until(lambda: link.refusal is not None)
        async with aiohttp.ClientSession() as http, http.get(f"{running.url}/healthz") as reply:
            assert reply.status == 503
            health = await reply.json()
        assert health["ok"] is False and health["store"] is None
        (problem,) = health["mqtt"]
        assert problem["hall"] == hall and problem["reason"] in (
            "bad_credentials",
            "not_authorized",
        )
        assert "拒绝控制器登录" in health["message"]

        api = Api(running.url, await admin_token(running.url), hall)
        try:
            alerts = await api.get(f"/api/v1/halls/{hall}/alerts")
            async with api.http.get(f"{running.url}/metrics") as reply:
                metrics = await reply.text()
        finally:
            await api.close()
        assert alerts[0]["kind"] == "mqtt_login_refused" and "拒绝控制器登录" in alerts[0]["text"]
        assert f'hallctl_mqtt_connected{{hall="{hall}"}} 0.0' in metrics
        assert f'hallctl_mqtt_login_refused{{hall="{hall}",reason="{problem["reason"]}"}} 1.0' in (
            metrics
        )
    finally:
        await running.close()


async def test_the_link_logs_in_again_once_the_broker_takes_its_password(
    mosquitto: MosquittoProcess,
) -> None:
    controller = Identity("demo")
    config = LinkConfig(
        host=mosquitto.host,
        port=mosquitto.port,
        hall="demo",
        username=controller.client_id,
        password="the-new-password",
        refused_retry=0.2,
    )
    async with MqttLink(config) as link:
        await until(lambda: link.refusal is not None)
        # The installer re-runs broker-config and reloads the broker: the same password now.
        await asyncio.to_thread(mosquitto.rotate_to, controller, "the-new-password")
        await until(lambda: link.connected)
        assert link.refusal is None and link.stats.refused >= 1

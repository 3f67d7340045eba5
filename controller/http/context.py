"""What the console's handlers share: the halls, their device hubs, accounts, voice, live feeds.

One ``ConsoleContext`` per daemon, stored on the aiohttp application under ``CONSOLE``.
Device hubs are looked up per request (``hub_of``) because the device extension may register
them after the console starts, and a hall without MQTT devices has none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from controller.auth.directory import AccessDirectory, Principal
from controller.daemon.runtime import HallRuntime
from controller.daemon.store_supervisor import StoreHealth

WAIT_ALERT_MINUTES: Final = 30.0  # "a wait over ~30 min suggests opening a window"


@dataclass
class ConsoleContext:
    halls: dict[str, HallRuntime]
    directory: AccessDirectory
    hubs: dict[str, Any] = field(default_factory=dict)  # hall id -> devices.hub.DeviceHub
    committer: Any = None  # controller.store.group_commit.GroupCommitter, for metrics
    wait_alert_minutes: float = WAIT_ALERT_MINUTES
    extras: dict[str, Any] = field(default_factory=dict)  # plug-ins (e.g. 好差评 cases)
    health: StoreHealth = field(default_factory=StoreHealth)  # the log's writability

    def hub_of(self, hall_id: str) -> Any | None:
        return self.hubs.get(hall_id)


CONSOLE: Final = web.AppKey("console", ConsoleContext)

PRINCIPAL: Final = web.RequestKey("principal", Principal)
"""Who is asking, set by the access middleware (absent on a bare daemon without accounts)."""
STORE_HEALTH: Final = web.AppKey("store_health", StoreHealth)

AUDIT_ACTION: Final = web.RequestKey("audit_action", str)
"""What a state-changing request did, in words for the audit (default: method and route)."""
AUDIT_DETAIL: Final = web.RequestKey("audit_detail", str)

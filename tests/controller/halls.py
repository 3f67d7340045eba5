"""Small hall configurations built in code, so engine tests don't depend on the TOML loader."""

from __future__ import annotations

from datetime import time

from controller.config.model import (
    CallingPolicy,
    Evaluation,
    HallConfig,
    HallSettings,
    LeftoverPolicy,
    Service,
    Staff,
    Window,
    WindowService,
)

# 2026-11-23 09:00 Asia/Shanghai (a Monday) in epoch ms.
MONDAY_9AM = 1_795_395_600_000
MINUTE = 60_000


def small_hall(
    *,
    policy: CallingPolicy | None = None,
    leftover: LeftoverPolicy = LeftoverPolicy.EXPIRE,
    number_max: int = 999,
) -> HallConfig:
    services = (
        Service(id="A", name="不动产登记", prefix="A", number_max=number_max),
        Service(id="B", name="社保业务", prefix="B", number_max=number_max),
        Service(id="C", name="户籍业务", prefix="C", green_channel=False, number_max=number_max),
    )
    windows = (
        Window(number=1, name="1号窗口", services=(WindowService("A", 2), WindowService("B", 1))),
        Window(number=2, name="2号窗口", services=(WindowService("B", 1),)),
        Window(number=3, name="3号窗口", services=(WindowService("C", 1), WindowService("A", 1))),
    )
    staff = (
        Staff(id="1001", name="王芳"),
        Staff(id="1002", name="李强"),
        Staff(id="1003", name="张伟"),
        Staff(id="1004", name="刘洋"),
    )
    return HallConfig(
        hall=HallSettings(
            id="demo", name="示范政务服务大厅", closing_time=time(17, 30), leftover=leftover
        ),
        services=services,
        windows=windows,
        staff=staff,
        policy=policy or CallingPolicy(),
        evaluation=Evaluation(window_seconds=30, late_delivery_seconds=300),
    )

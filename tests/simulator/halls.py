"""A tiny hall for simulator tests: two services, three windows, one of them with a serial
keypad (which the MQTT simulator must skip)."""

from __future__ import annotations

import dataclasses

from controller.config.loader import parse_config
from controller.config.model import HallConfig, MqttSettings

TINY_HALL = """
[hall]
id = "t"
name = "测试大厅"
notice = "欢迎光临"

[[services]]
id = "A"
name = "不动产登记"
prefix = "A"
expected_minutes = 4

[[services]]
id = "B"
name = "社保业务"
prefix = "B"
expected_minutes = 3

[[windows]]
number = 1
name = "综合窗口"
services = ["A", "B"]

[[windows]]
number = 2
name = "社保业务"
services = ["B"]

[[windows]]
number = 3
name = "不动产登记"
services = ["A"]

[[staff]]
id = "0001"
name = "王丽"

[[staff]]
id = "0002"
name = "李强"

[[staff]]
id = "0003"
name = "张敏"

[[buses]]
id = "bus1"
port = "/dev/null-sim"

[[devices]]
id = "kiosk-1"
kind = "kiosk"
link = "mqtt"

[[devices]]
id = "kiosk-2"
kind = "kiosk"
link = "mqtt"

[[devices]]
id = "screen"
kind = "hall_screen"
link = "mqtt"

[[devices]]
id = "w1-caller"
kind = "caller"
link = "mqtt"
window = 1

[[devices]]
id = "w1-led"
kind = "window_display"
link = "mqtt"
window = 1

[[devices]]
id = "w1-pad"
kind = "evaluator"
link = "mqtt"
window = 1

[[devices]]
id = "w2-caller"
kind = "caller"
link = "mqtt"
window = 2

[[devices]]
id = "w2-pad"
kind = "evaluator"
link = "mqtt"
window = 2

[[devices]]
id = "w3-keypad"
kind = "caller"
link = "serial"
window = 3
bus = "bus1"
address = 3
protocol = "keypad_bus"

[[devices]]
id = "w3-led"
kind = "window_display"
link = "mqtt"
window = 3
"""


def tiny_hall(host: str = "127.0.0.1", port: int = 1883) -> HallConfig:
    config = parse_config(TINY_HALL, "<tiny hall>")
    return dataclasses.replace(config, mqtt=MqttSettings(host=host, port=port))

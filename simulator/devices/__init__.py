"""Simulated MQTT devices, one module per family; ``fleet`` builds them from a hall config."""

from simulator.devices.base import DeviceStats, SimDevice
from simulator.devices.caller import PressResult, SimCaller
from simulator.devices.connection import DeviceConnection, Endpoint
from simulator.devices.evaluator import Invite, SimEvaluator
from simulator.devices.fleet import Fleet, build_fleet
from simulator.devices.hall_screen import SimHallScreen
from simulator.devices.kiosk import PrintedTicket, SimKiosk, TakeOutcome, TakeResult
from simulator.devices.window_display import SimWindowDisplay

__all__ = [
    "DeviceConnection",
    "DeviceStats",
    "Endpoint",
    "Fleet",
    "Invite",
    "PressResult",
    "PrintedTicket",
    "SimCaller",
    "SimDevice",
    "SimEvaluator",
    "SimHallScreen",
    "SimKiosk",
    "SimWindowDisplay",
    "TakeOutcome",
    "TakeResult",
    "build_fleet",
]

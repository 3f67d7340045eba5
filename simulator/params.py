"""What the simulated people do, as data: arrival rates, day curve, clerk habits, ratings.

Every probability is per event (per ticket, per service, per invite). Times are simulated
seconds or minutes (see ``simulator.clock``). Defaults describe an ordinary county hall morning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from firmware_protocols.mqtt_v1 import RatingLevel

# Multiplier of the arrival rate per hour of the day (index 0 = 00:00-01:00). Halls open around
# 09:00 with a morning peak, a lunch dip and a smaller afternoon peak.
DEFAULT_DAY_CURVE: tuple[float, ...] = (
    0, 0, 0, 0, 0, 0, 0, 0,  # 00-08
    0.6, 1.4, 1.5, 1.1, 0.5, 0.6,  # 08-14
    1.2, 1.3, 1.0, 0.6,  # 14-18
    0, 0, 0, 0, 0, 0,  # 18-24
)  # fmt: skip

DEFAULT_RATINGS: Mapping[RatingLevel, float] = MappingProxyType(
    {
        RatingLevel.VERY_SATISFIED: 0.70,
        RatingLevel.SATISFIED: 0.20,
        RatingLevel.BASICALLY_SATISFIED: 0.06,
        RatingLevel.DISSATISFIED: 0.03,
        RatingLevel.VERY_DISSATISFIED: 0.01,
    }
)


class ParamsError(ValueError):
    """Simulation parameters that cannot describe a hall (negative rate, bad probability...)."""


def _probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ParamsError(f"{name} must be a probability in [0, 1], got {value!r}")


@dataclass(frozen=True, slots=True)
class SimParams:
    """See the module docstring; ``rate_for`` and ``curve_at`` are the arrival model."""

    arrivals_per_hour: float = 12.0  # per service, at multiplier 1.0
    service_rates: Mapping[str, float] = field(default_factory=dict)  # per service id
    day_curve: tuple[float, ...] = DEFAULT_DAY_CURVE
    start_hour: float = 9.0  # hall time when the run starts
    green_share: float = 0.05  # tickets taken on the green channel (where allowed)
    no_show: float = 0.05  # citizen gone when called: clerk recalls once or twice, then no_show
    suspend: float = 0.05  # service suspended (citizen fetches a paper), then called back
    transfer: float = 0.03  # service transferred to another service's queue instead of finished
    service_sigma: float = 0.5  # log-normal shape; the median is the service's expected_minutes
    walk_seconds: tuple[float, float] = (5.0, 40.0)  # from seat to window after a call
    patience_seconds: float = 60.0  # a clerk waits this long for the citizen before a recall
    idle_gap_seconds: tuple[float, float] = (5.0, 30.0)  # clerk pause between two services
    ratings: Mapping[RatingLevel, float] = field(default_factory=lambda: dict(DEFAULT_RATINGS))
    never_rate: float = 0.10  # invites left to time out
    pick_reasons: float = 0.8  # a bad rating comes with 1-2 reasons (when the pad offers some)
    rating_delay_seconds: tuple[float, float] = (2.0, 15.0)  # capped at 80 % of the invite
    kiosk_paper: int = 2000  # sheets per kiosk at the start
    kiosk_paper_low: int = 50  # printer reports "low" from here down

    def __post_init__(self) -> None:
        if self.arrivals_per_hour < 0:
            raise ParamsError(f"arrivals_per_hour must be >= 0, got {self.arrivals_per_hour!r}")
        for service, rate in self.service_rates.items():
            if rate < 0:
                raise ParamsError(f"rate of service {service!r} must be >= 0, got {rate!r}")
        if len(self.day_curve) != 24 or any(m < 0 for m in self.day_curve):
            raise ParamsError("day_curve needs 24 multipliers >= 0, one per hour")
        if not 0 <= self.start_hour < 24:
            raise ParamsError(f"start_hour must be in [0, 24), got {self.start_hour!r}")
        for name in ("green_share", "no_show", "suspend", "transfer", "never_rate"):
            _probability(name, getattr(self, name))
        _probability("pick_reasons", self.pick_reasons)
        if self.service_sigma < 0:
            raise ParamsError("service_sigma must be >= 0")
        for name in ("walk_seconds", "idle_gap_seconds", "rating_delay_seconds"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ParamsError(f"{name} must be (low, high) with 0 <= low <= high")
        if self.patience_seconds <= 0:
            raise ParamsError("patience_seconds must be > 0")
        weights = list(self.ratings.values())
        if not weights or any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ParamsError("ratings needs non-negative weights with a positive sum")
        if self.kiosk_paper < 0 or self.kiosk_paper_low < 0:
            raise ParamsError("kiosk paper counts must be >= 0")

    def rate_for(self, service_id: str) -> float:
        """Arrivals per hour for ``service_id`` at multiplier 1.0."""
        return self.service_rates.get(service_id, self.arrivals_per_hour)

    def curve_at(self, hour: float) -> float:
        return self.day_curve[int(hour) % 24]

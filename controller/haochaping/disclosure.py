"""评价信息公开: what the public may see of a hall's ratings, and a short cache for it.

Satisfaction and coverage per hall, department and window (per staff member only with
``[evaluation] disclose_staff = true``): counts and rates, never a rating's text, a rater or a
case. Figures come from the hall's live statistics (``LiveStats``), over a period ending today:
``day`` (today), ``month`` (this calendar month), ``year`` (this calendar year). Answers are
cached for ``CACHE_SECONDS``, so a page opened by many phones at once costs one report.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from datetime import date
from typing import Final

import msgspec

from controller.config.model import HallConfig
from controller.haochaping.stats import Dimension, StatsReport, StatsRow

CACHE_SECONDS: Final = 5.0


class Period(enum.Enum):
    DAY = "day"
    MONTH = "month"
    YEAR = "year"

    @property
    def label(self) -> str:
        return {"day": "今日", "month": "本月", "year": "本年"}[self.value]

    def first_day(self, today: date) -> date:
        if self is Period.DAY:
            return today
        if self is Period.MONTH:
            return today.replace(day=1)
        return today.replace(month=1, day=1)


class PublicFigure(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    name: str
    served: int  # 办件量
    rated: int  # 已评价
    coverage: float | None  # 评价覆盖率
    ratings: int
    satisfaction: float | None  # 满意率
    bad_ratings: int  # 差评数


class PublicRatings(msgspec.Struct, frozen=True, kw_only=True):
    hall: str
    hall_name: str
    period: Period
    period_label: str
    from_day: str
    to_day: str
    generated_at: int  # epoch ms
    overall: PublicFigure
    departments: list[PublicFigure]
    windows: list[PublicFigure]
    staff: list[PublicFigure] | None  # None: not disclosed (disclose_staff = false)


def _figure(row: StatsRow) -> PublicFigure:
    return PublicFigure(
        key=row.key,
        name=row.label,
        served=row.served,
        rated=row.rated,
        coverage=None if row.coverage is None else round(row.coverage, 4),
        ratings=row.ratings,
        satisfaction=None if row.satisfaction is None else round(row.satisfaction, 4),
        bad_ratings=row.bad_ratings,
    )


def public_ratings(
    config: HallConfig, report: StatsReport, period: Period, generated_at: int
) -> PublicRatings:
    def rows(dimension: Dimension) -> list[PublicFigure]:
        return [_figure(r) for r in report.rows if r.dimension is dimension]

    [overall] = rows(Dimension.HALL) or [
        PublicFigure(
            key=config.hall.id,
            name=config.hall.name,
            served=0,
            rated=0,
            coverage=None,
            ratings=0,
            satisfaction=None,
            bad_ratings=0,
        )
    ]
    return PublicRatings(
        hall=config.hall.id,
        hall_name=config.hall.name,
        period=period,
        period_label=period.label,
        from_day=report.from_day,
        to_day=report.to_day,
        generated_at=generated_at,
        overall=overall,
        departments=rows(Dimension.DEPARTMENT),
        windows=rows(Dimension.WINDOW),
        staff=rows(Dimension.STAFF) if config.evaluation.disclose_staff else None,
    )


class DisclosureCache:
    """JSON answers by (hall, period), each kept ``ttl`` seconds."""

    def __init__(
        self, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._kept: dict[tuple[str, Period], tuple[float, bytes]] = {}
        self.computed = 0  # answers built (not served from the cache), for tests and metrics

    def get(self, hall: str, period: Period) -> bytes | None:
        kept = self._kept.get((hall, period))
        if kept is None or self._clock() - kept[0] >= self.ttl:
            return None
        return kept[1]

    def put(self, hall: str, period: Period, body: bytes) -> None:
        self.computed += 1
        self._kept[(hall, period)] = (self._clock(), body)

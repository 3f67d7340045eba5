"""Statistics as CSV (Excel-friendly UTF-8 with BOM), XLSX (one sheet per dimension) or JSON.

CSV and XLSX are read by people in Excel: both have the same Chinese headers and dimension
names; JSON keeps the English field names for machines."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Final

import msgspec
from openpyxl import Workbook  # type: ignore[import-untyped]

from controller.haochaping.stats import Dimension, StatsReport, StatsRow

COLUMNS: Final = (
    ("dimension", "维度"),
    ("key", "编号"),
    ("label", "名称"),
    ("served", "办件量"),
    ("rated", "已评价"),
    ("coverage", "评价覆盖率"),
    ("ratings", "评价数"),
    ("satisfaction", "满意率"),
    ("bad_ratings", "差评数"),
    ("cases", "差评工单"),
    ("contact_rate", "回访率"),
    ("rectify_rate", "整改率"),
    ("on_time_rate", "按时办结率"),
    ("wait_p50_s", "等候时间P50(秒)"),
    ("wait_p90_s", "等候时间P90(秒)"),
    ("service_p50_s", "办理时间P50(秒)"),
    ("service_p90_s", "办理时间P90(秒)"),
)
_SHEETS: Final = {
    Dimension.HALL: "大厅",
    Dimension.DEPARTMENT: "部门",
    Dimension.WINDOW: "窗口",
    Dimension.STAFF: "工作人员",
    Dimension.SERVICE: "事项",
    Dimension.DAY: "日",
    Dimension.HOUR: "时段",
}


def _cells(hall: str, row: StatsRow) -> list[object]:
    values: list[object] = [hall]
    for name, _ in COLUMNS:
        value = getattr(row, name)
        if isinstance(value, Dimension):
            value = _SHEETS[value]
        elif isinstance(value, float):
            value = round(value, 4)
        values.append(value)
    return values


def to_csv(reports: Sequence[StatsReport]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["大厅", *(label for _, label in COLUMNS)])  # as the XLSX sheets
    for report in reports:
        for row in report.rows:
            writer.writerow(["" if v is None else v for v in _cells(report.hall, row)])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(reports: Sequence[StatsReport]) -> bytes:
    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    for dimension, title in _SHEETS.items():
        sheet = book.create_sheet(title)
        sheet.append(["大厅", *(label for _, label in COLUMNS)])
        for report in reports:
            for row in report.rows:
                if row.dimension is dimension:
                    sheet.append(_cells(report.hall, row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def to_json(reports: Sequence[StatsReport]) -> bytes:
    return msgspec.json.encode(list(reports))

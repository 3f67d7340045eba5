"""Bar charts drawn as SVG by the server: no charting library, nothing for the browser to load
but an image. Text is escaped; sizes are fixed so charts line up on the figures page."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH = 640
HEIGHT = 260
LEFT = 48
BOTTOM = 56
TOP = 32


def bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    unit: str = "",
    percent: bool = False,
    colour: str = "#2f6fb3",
) -> str:
    """Vertical bars, one per label; ``None`` values are drawn as a gap marked '-'."""
    plot_w = WIDTH - LEFT - 16
    plot_h = HEIGHT - TOP - BOTTOM
    top_value = 1.0 if percent else max([v for v in values if v is not None] + [1.0])
    n = max(1, len(labels))
    step = plot_w / n
    bar_w = max(2.0, step * 0.7)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 16}" y2="{TOP + plot_h}" '
        'stroke="#888"/>',
    ]
    for fraction in (0.5, 1.0):
        y = TOP + plot_h * (1 - fraction)
        tick = f"{fraction * 100:.0f}%" if percent else _number(top_value * fraction)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - 16}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{escape(tick)}</text>'
        )
    for i, (label, value) in enumerate(zip(labels, values, strict=False)):
        x = LEFT + i * step + (step - bar_w) / 2
        cx = x + bar_w / 2
        if value is None:
            shown = "-"
            parts.append(
                f'<text x="{cx:.1f}" y="{TOP + plot_h - 4}" text-anchor="middle">{shown}</text>'
            )
        else:
            h = plot_h * min(1.0, value / top_value) if top_value else 0.0
            y = TOP + plot_h - h
            shown = f"{value * 100:.0f}%" if percent else _number(value) + unit
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(label)}: {escape(shown)}</title></rect>'
            )
            if n <= 24:
                parts.append(
                    f'<text x="{cx:.1f}" y="{y - 3:.1f}" text-anchor="middle">'
                    f"{escape(shown)}</text>"
                )
        parts.append(
            f'<text x="{cx:.1f}" y="{TOP + plot_h + 14}" text-anchor="end" '
            f'transform="rotate(-35 {cx:.1f} {TOP + plot_h + 14})">{escape(label[:12])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"

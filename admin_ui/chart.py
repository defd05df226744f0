"""The dashboard's chart as server-rendered SVG: daily volume as bars, delivery rate as a line.

No script and no chart library: the figure is a few dozen shapes, readable by a screen reader
through its title and the table the page shows beside it.
"""

from __future__ import annotations

from html import escape

from messaging.stats import DayVolume

__all__ = ["volume_chart"]

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 640, 220, 40, 28, 12


def volume_chart(days: list[DayVolume]) -> str:
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP
    peak = max((d.total for d in days), default=0) or 1
    slot = plot_w / max(len(days), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title" '
        'xmlns="http://www.w3.org/2000/svg">',
        '<title id="chart-title">Messages per day (bars) and delivery rate (line)</title>',
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH - 8}" y2="{PAD_TOP + plot_h}" class="axis"/>',
        f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP + 10}" class="tick" text-anchor="end">{peak}</text>',
        f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP + plot_h}" class="tick" text-anchor="end">0</text>',
    ]
    points = []
    for i, day in enumerate(days):
        x = PAD_LEFT + i * slot
        h = plot_h * day.total / peak
        label = f"{day.day.isoformat()}: {day.total} messages"
        parts.append(
            f'<rect x="{x + slot * 0.15:.1f}" y="{PAD_TOP + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" class="bar"><title>{escape(label)}</title></rect>'
        )
        if i % max(1, len(days) // 7) == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - 8}" class="tick" text-anchor="middle">'
                f"{day.day.strftime('%d %b')}</text>"
            )
        rate = day.delivery_rate
        if rate is not None:
            points.append(f"{x + slot / 2:.1f},{PAD_TOP + plot_h * (1 - rate):.1f}")
    if len(points) > 1:
        parts.append(f'<polyline points="{" ".join(points)}" class="rate"/>')
    for point in points:
        cx, cy = point.split(",")
        parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" class="rate-dot"/>')
    parts.append("</svg>")
    return "".join(parts)

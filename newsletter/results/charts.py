"""Bar charts drawn on the server as accessible SVG: no chart library, no script.

A chart is an ``<svg role="img">`` named by its ``<title>`` and ``<desc>`` (the
description states the figures' gist in words), and its figures are also given as a
table, which the page shows behind a ``<details>`` toggle: what a screen reader or a
printout needs. Pure: data in, markup out.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

COLOURS = ("#1d4e89", "#a34700", "#3d6b21", "#6b2d6b")  # 3:1 or more against white
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 40


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


@dataclass(frozen=True)
class Chart:
    """What a page needs: the SVG, and the same figures as table rows."""

    key: str
    title: str
    description: str
    labels: Sequence[str]
    series: Sequence[Series]

    @property
    def colours(self) -> list[tuple[str, str]]:
        return [(s.name, COLOURS[i % len(COLOURS)]) for i, s in enumerate(self.series)]

    @property
    def rows(self) -> list[tuple[str, list[int]]]:
        return [(label, [s.values[i] for s in self.series]) for i, label in enumerate(self.labels)]

    @property
    def svg(self) -> str:
        return bar_svg(self)


def _nice_top(value: int) -> int:
    if value <= 5:
        return max(value, 1)
    step = int(10 ** (len(str(value)) - 1))
    return ((value + step - 1) // step) * step


def bar_svg(chart: Chart) -> str:
    """Grouped vertical bars, one group per label, one bar per series."""
    esc = html.escape
    top = _nice_top(max((v for s in chart.series for v in s.values), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    groups = max(len(chart.labels), 1)
    group_w = plot_w / groups
    bar_w = max(group_w * 0.8 / max(len(chart.series), 1), 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{chart.key}-title {chart.key}-desc" class="chart">',
        f'<title id="{chart.key}-title">{esc(chart.title)}</title>',
        f'<desc id="{chart.key}-desc">{esc(chart.description)}</desc>',
    ]
    for tick in (0, top // 2, top) if top > 1 else (0, top):
        y = TOP + plot_h - plot_h * tick / top
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#767676" stroke-width="{1 if tick == 0 else 0.5}"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="#333">{tick}</text>'
        )
    every = max(1, groups // 12)  # keep axis labels readable on long series
    for g, label in enumerate(chart.labels):
        x0 = LEFT + g * group_w + group_w * 0.1
        for s, series in enumerate(chart.series):
            value = series.values[g]
            h = plot_h * value / top
            x = x0 + s * bar_w
            out.append(
                f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{COLOURS[s % len(COLOURS)]}">'
                f"<title>{esc(label)}, {esc(series.name)}: {value}</title></rect>"
            )
        if g % every == 0:
            out.append(
                f'<text x="{LEFT + (g + 0.5) * group_w:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle" font-size="12" fill="#333">{esc(label)}</text>'
            )
    out.append("</svg>")
    return "".join(out)

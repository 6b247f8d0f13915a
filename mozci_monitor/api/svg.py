"""The bisect chart: each push's failure rate with its 95 % interval, as inline SVG.

Drawn on the server from numbers (no script, no external asset); the only text in it
(revisions) is escaped. Colours are attributes, not styles, so the page's content
security policy needs no exception for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

# Also used by the browser test to find the chart's marks in a screenshot.
CHART_COLOURS: dict[str, str] = {
    "interval": "#90caf9",  # the 95 % interval of a push's rate
    "rate": "#0d47a1",  # the measured rate
    "change": "#b71c1c",  # the push where the rate rises (the answer)
    "axis": "#9e9e9e",
}

_COLUMN = 56
_LEFT = 48
_TOP = 14
_PLOT = 180  # height of the 0 to 100 % band
_BOTTOM = 70  # room for the revisions under it


@dataclass(frozen=True, slots=True)
class RatePoint:
    revision: str
    runs: int
    failures: int
    low: float  # 95 % interval, 0..1
    high: float
    is_change: bool = False
    href: str | None = None

    @property
    def rate(self) -> float | None:
        return self.failures / self.runs if self.runs else None


def rate_chart(points: Sequence[RatePoint]) -> str:
    width = _LEFT + _COLUMN * max(1, len(points)) + 12
    height = _TOP + _PLOT + _BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="rate-chart" width="{width}"'
        f' height="{height}" viewBox="0 0 {width} {height}" role="img"'
        ' aria-label="failure rate per push with its 95% interval">'
    ]
    for tick in (0, 25, 50, 75, 100):
        y = _y(tick / 100)
        parts.append(
            f'<line x1="{_LEFT}" y1="{y}" x2="{width - 8}" y2="{y}"'
            f' stroke="{CHART_COLOURS["axis"]}" stroke-width="{2 if tick == 0 else 1}"'
            f' stroke-dasharray="{"" if tick == 0 else "3 3"}"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4}" font-size="11" text-anchor="end"'
            f' fill="#444">{tick}%</text>'
        )
    for index, point in enumerate(points):
        parts.append(_column(index, point))
    parts.append("</svg>")
    return "".join(parts)


def _column(index: int, point: RatePoint) -> str:
    centre = _LEFT + _COLUMN * index + _COLUMN // 2
    label_y = _TOP + _PLOT + 14
    mark = CHART_COLOURS["change"] if point.is_change else CHART_COLOURS["rate"]
    revision = escape(point.revision[:12])
    weight = ' font-weight="bold"' if point.is_change else ""
    body = [f'<g class="push{" change" if point.is_change else ""}">']
    body.append(f"<title>{escape(_describe(point))}</title>")
    if point.rate is None:
        body.append(
            f'<text x="{centre}" y="{_y(0) - 6}" font-size="10" text-anchor="middle"'
            ' fill="#757575">no runs</text>'
        )
    else:
        top, bottom = _y(point.high), _y(point.low)
        body.append(
            f'<rect class="interval" x="{centre - 9}" y="{top}" width="18"'
            f' height="{max(2, bottom - top)}" rx="3" fill="{CHART_COLOURS["interval"]}"/>'
        )
        body.append(
            f'<rect class="rate" x="{centre - 14}" y="{_y(point.rate) - 4}" width="28"'
            f' height="8" fill="{mark}"/>'
        )
    body.append(
        f'<text x="{centre}" y="{label_y}" font-size="10" text-anchor="end"'
        f' transform="rotate(-35 {centre} {label_y})" fill="#444"{weight}>{revision}</text>'
    )
    body.append("</g>")
    group = "".join(body)
    if point.href:
        return f'<a href="{escape(point.href)}">{group}</a>'
    return group


def _y(rate: float) -> int:
    return round(_TOP + _PLOT * (1 - min(1.0, max(0.0, rate))))


def _describe(point: RatePoint) -> str:
    if point.rate is None:
        return f"{point.revision[:12]}: no runs yet"
    return (
        f"{point.revision[:12]}: {point.failures} of {point.runs} runs failed"
        f" ({point.rate:.0%}, 95% interval {point.low:.0%} to {point.high:.0%})"
    )

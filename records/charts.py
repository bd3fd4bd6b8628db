"""Geometry for server-rendered SVG charts (trend charts and sparklines).

Written here because a chart is a few lines of arithmetic; a JavaScript charting library would
need a CSP exception and would not print. The template (records/_chart.html) draws the SVG, so
every label is auto-escaped.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import formats
from django.utils.translation import gettext_lazy as _

from records import queries
from records.models import Category

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 16, 36
PALETTE = ["#0b6e6e", "#b3541e", "#5b4bb7", "#1e7a3c", "#a4266b", "#62708a"]
SHAPES = ["circle", "square", "diamond"]


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    points: list = field(default_factory=list)
    lines: list = field(
        default_factory=list
    )  # one polyline per component (e.g. systolic, diastolic)
    band: dict | None = None
    y_ticks: list = field(default_factory=list)
    x_ticks: list = field(default_factory=list)
    legend: list = field(default_factory=list)
    plot: dict = field(default_factory=dict)


def _reference_range(record) -> tuple[float | None, float | None]:
    ranges = (record.resource or {}).get("referenceRange") or []
    if not ranges or not isinstance(ranges[0], dict):
        return None, None
    low = (ranges[0].get("low") or {}).get("value")
    high = (ranges[0].get("high") or {}).get("value")
    # The resource keeps decimals as Decimal (their digits); the chart's arithmetic is float.
    return (
        float(low) if isinstance(low, int | float | Decimal) else None,
        float(high) if isinstance(high, int | float | Decimal) else None,
    )


def trend(records, *, second: bool = False) -> Chart:
    """A chart of one test across institutions: points by institution, the reference range as
    a band, and (for blood pressure) a second line for the second component."""
    chart = Chart()
    dated = [r for r in records if r.effective and r.value_num is not None]
    if not dated:
        return chart
    values = [r.value_num for r in dated] + (
        [r.value_num2 for r in dated if r.value_num2 is not None] if second else []
    )
    low, high = _reference_range(dated[-1])
    bounds = values + [v for v in (low, high) if v is not None]
    y_min, y_max = min(bounds), max(bounds)
    pad = (y_max - y_min) * 0.1 or abs(y_max) * 0.1 or 1
    y_min, y_max = y_min - pad, y_max + pad
    t_min, t_max = dated[0].effective.timestamp(), dated[-1].effective.timestamp()
    span = (t_max - t_min) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    chart.plot = {"x": LEFT, "y": TOP, "width": plot_w, "height": plot_h, "bottom": TOP + plot_h}

    def x(record):
        return round(
            LEFT + (record.effective.timestamp() - t_min) / span * plot_w
            if span > 1
            else LEFT + plot_w / 2,
            1,
        )

    def y(value):
        return round(TOP + (y_max - value) / (y_max - y_min) * plot_h, 1)

    institutions = []
    for record in dated:
        name = record.source.display_name
        if name not in institutions:
            institutions.append(name)
    style = {
        name: (PALETTE[i % len(PALETTE)], SHAPES[i % len(SHAPES)])
        for i, name in enumerate(institutions)
    }
    chart.legend = [{"name": n, "color": style[n][0], "shape": style[n][1]} for n in institutions]
    for record in dated:
        color, shape = style[record.source.display_name]
        for value in [record.value_num] + (
            [record.value_num2] if second and record.value_num2 is not None else []
        ):
            chart.points.append(
                {
                    "x": x(record),
                    "y": y(value),
                    "color": color,
                    "shape": shape,
                    "value": value,
                    "date": formats.date_format(record.effective, "SHORT_DATE_FORMAT"),
                    "institution": record.source.display_name,
                }
            )
    chart.lines.append(" ".join(f"{x(r)},{y(r.value_num)}" for r in dated))
    if second:
        chart.lines.append(
            " ".join(f"{x(r)},{y(r.value_num2)}" for r in dated if r.value_num2 is not None)
        )
    if low is not None or high is not None:
        top = y(high) if high is not None else TOP
        bottom = y(low) if low is not None else TOP + plot_h
        chart.band = {
            "y": max(top, TOP),
            "height": max(min(bottom, TOP + plot_h) - max(top, TOP), 0),
            "low": low,
            "high": high,
        }
    for i in range(5):
        value = y_min + (y_max - y_min) * i / 4
        chart.y_ticks.append(
            {"y": y(value), "label": f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"}
        )
    ticks = (dated[0], dated[len(dated) // 2], dated[-1]) if len(dated) > 2 else dated[:1]
    for index, record in enumerate(ticks):
        anchor = (
            "start"
            if index == 0 and len(ticks) > 1
            else "end"
            if index == len(ticks) - 1 and index
            else "middle"
        )
        chart.x_ticks.append(
            {
                "x": x(record),
                "anchor": anchor,
                "label": formats.date_format(record.effective, "SHORT_DATE_FORMAT"),
            }
        )
    return chart


def sparkline(records, width: int = 120, height: int = 28) -> str:
    """The polyline points of a small trend (no axes): a string for <polyline points>."""
    values = [r.value_num for r in records if r.value_num is not None]
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    spread = (high - low) or 1
    step = (width - 4) / (len(values) - 1)
    return " ".join(
        f"{2 + i * step:.1f},{2 + (high - v) / spread * (height - 4):.1f}"
        for i, v in enumerate(values)
    )


def flag(record) -> str:
    """H, L or '' from the reference range; bounds are inclusive (a value at a limit is normal)."""
    if record.value_num is None:
        return ""
    low, high = _reference_range(record)
    if high is not None and record.value_num > high:
        return "H"
    if low is not None and record.value_num < low:
        return "L"
    return ""


VITAL_CHARTS = [
    # (LOINC codes of the same concept, the one used first; title; second component; category)
    # Blood pressure comes as the 85354-9 panel or the 55284-4 one (Synthea and many US
    # systems); glucose as 2345-7 (serum or plasma) or 2339-0 (blood).
    (("85354-9", "55284-4"), _("Blood pressure"), True, Category.VITAL),
    (("29463-7",), _("Weight"), False, Category.VITAL),
    (("39156-5",), _("BMI"), False, Category.VITAL),
    (("8867-4",), _("Heart rate"), False, Category.VITAL),
    (("2345-7", "2339-0"), _("Glucose"), False, Category.LAB),
]


def vital_panels(records) -> list[dict]:
    """Charts of blood pressure, weight, BMI, heart rate and glucose over `records`."""
    panels = []
    for loincs, title, second, category in VITAL_CHARTS:
        points = queries.series(records, loincs[0], category, also=loincs[1:])
        if points:
            panels.append(
                {
                    "title": title,
                    "points": points,
                    "chart": trend(points, second=second),
                    "second": second,
                    "latest": points[-1],
                }
            )
    return panels

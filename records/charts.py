"""Geometry for server-rendered SVG charts (trend charts and sparklines).

Written here because a chart is a few lines of arithmetic; a JavaScript charting library would
need a CSP exception and would not print. The template (records/_chart.html) draws the SVG, so
every label is auto-escaped.
"""

import datetime as dt
import functools
import html
from dataclasses import dataclass, field
from decimal import Decimal

from django.template.defaultfilters import floatformat
from django.utils import formats, timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from records import queries
from records.models import Category
from records.ranges import reference_range
from records.units import display_unit, unit_suffix

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 28, 36
# Okabe–Ito's colour-blind-safe colours (ochre for their yellow), each at least 3:1 against
# the white plot; every colour comes with its own marker shape, so colour is never alone.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#000000", "#997700"]
SHAPES = ["circle", "square", "triangle", "diamond", "triangle-down", "cross"]
MARKER = 4.5  # a point's radius
# A second component (diastolic) is drawn dashed: the two lines differ without colour.
DASH = "6 4"


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    lines: list = field(
        default_factory=list
    )  # one polyline per component (e.g. systolic, diastolic)
    band: dict | None = None
    y_ticks: list = field(default_factory=list)
    x_ticks: list = field(default_factory=list)
    legend: list = field(default_factory=list)
    plot: dict = field(default_factory=dict)
    unit: str = ""  # as people write it, shown on the value axis
    series: list = field(default_factory=list)  # the named lines (systolic, diastolic)
    # The points' SVG markup, built here (trend): hundreds of <path> elements through the
    # template engine cost more than everything else on the page.
    points_svg: str = ""
    total: int = 0  # the dated values charted
    drawn: int = 0  # the points drawn of them: fewer where they are dense (see thinned)


def source_styles(records) -> dict[int, dict]:
    """A colour and marker shape per source, the same on every chart drawn from `records` (a
    scoped queryset: the patient's records, or a share's): sources in the order they were
    linked or uploaded. One query (queries.source_ids)."""
    ids = queries.source_ids(records)
    return {
        source_id: {"color": PALETTE[i % len(PALETTE)], "shape": SHAPES[i % len(SHAPES)]}
        for i, source_id in enumerate(ids)
    }


def marker(shape: str, x: float, y: float, r: float = MARKER) -> str:
    """The SVG path of a marker of `shape` centred on (x, y)."""
    if shape == "square":
        s = r * 0.9
        return f"M{x - s:.1f},{y - s:.1f}h{2 * s:.1f}v{2 * s:.1f}h{-2 * s:.1f}Z"
    if shape == "triangle":
        return f"M{x:.1f},{y - r * 1.2:.1f}L{x + r * 1.1:.1f},{y + r * 0.8:.1f}H{x - r * 1.1:.1f}Z"
    if shape == "triangle-down":
        return f"M{x:.1f},{y + r * 1.2:.1f}L{x + r * 1.1:.1f},{y - r * 0.8:.1f}H{x - r * 1.1:.1f}Z"
    if shape == "diamond":
        d = r * 1.25
        return f"M{x:.1f},{y - d:.1f}L{x + d:.1f},{y:.1f}L{x:.1f},{y + d:.1f}L{x - d:.1f},{y:.1f}Z"
    if shape == "cross":
        a, b = r * 1.1, r * 0.4
        return (
            f"M{x - b:.1f},{y - a:.1f}h{2 * b:.1f}v{a - b:.1f}h{a - b:.1f}v{2 * b:.1f}"
            f"h{b - a:.1f}v{a - b:.1f}h{-2 * b:.1f}v{b - a:.1f}h{b - a:.1f}v{-2 * b:.1f}"
            f"h{a - b:.1f}Z"
        )
    return f"M{x - r:.1f},{y:.1f}a{r},{r} 0 1,0 {2 * r},0a{r},{r} 0 1,0 {-2 * r},0Z"


def _number(value) -> str:
    # A range keeps the digits the hospital sent (4.0 stays 4.0): Decimal is the resource's own.
    # A value column is a float: up to two decimals, without trailing zeros (7.6, 131).
    if isinstance(value, Decimal):
        return str(value)
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _date(record) -> str:
    # In the reader's time zone, as the values table shows it: a date-only result stored as
    # local midnight is the previous day in UTC.
    return short_date(timezone.localtime(record.effective).date())


def short_date(day) -> str:
    """`day` as the reader's language writes a short date (the template filter
    date:"SHORT_DATE_FORMAT")."""
    return _day(day, get_language())


@functools.lru_cache(maxsize=4096)
def _day(day, language: str) -> str:
    # Formatted once per day and language: a chart of daily readings formats the same few
    # hundred days for its points, its axis and its table (date_format was a sixth of a
    # cold vital-signs page).
    return formats.date_format(day, "SHORT_DATE_FORMAT")


def _band_label(record, unit_code: str) -> str:
    sent = reference_range(record.resource)  # the values as sent, for their digits
    low, high = sent.low, sent.high
    unit = unit_suffix(unit_code)
    if low is not None and high is not None:
        return gettext("Reference %(low)s–%(high)s%(unit)s") % {
            "low": _number(low),
            "high": _number(high),
            "unit": unit,
        }
    if low is not None:
        return gettext("Reference ≥ %(low)s%(unit)s") % {"low": _number(low), "unit": unit}
    return gettext("Reference ≤ %(high)s%(unit)s") % {"high": _number(high), "unit": unit}


# A chart draws every value up to DRAWN_AT_MOST; beyond that (years of home blood pressure:
# thousands of readings, a 3 MB page) each of PERIODS equal stretches of time draws its
# highest and lowest values only, so that no peak or trough is lost, and the chart says so.
DRAWN_AT_MOST = 300
PERIODS = 100


def thinned(dated: list, stamps: list[float], *, second: bool = False) -> list[int]:
    """Which values of `dated` (oldest first; `stamps`, their POSIX timestamps) a chart draws,
    by their indices in time order: all of them, or, beyond DRAWN_AT_MOST, the first, the
    latest and each period's highest and lowest (of the second component too)."""
    if len(dated) <= DRAWN_AT_MOST:
        return list(range(len(dated)))
    start = stamps[0]
    span = (stamps[-1] - start) or 1
    periods: dict[int, list[int]] = {}
    for index, stamp in enumerate(stamps):
        period = min(int((stamp - start) / span * PERIODS), PERIODS - 1)
        periods.setdefault(period, []).append(index)
    firsts = [record.value_num for record in dated]
    seconds = [record.value_num2 for record in dated]
    kept = {0, len(dated) - 1}
    for indices in periods.values():
        kept.add(min(indices, key=firsts.__getitem__))
        kept.add(max(indices, key=firsts.__getitem__))
        known = [i for i in indices if seconds[i] is not None] if second else []
        if known:
            kept.add(min(known, key=seconds.__getitem__))
            kept.add(max(known, key=seconds.__getitem__))
    return sorted(kept)


def trend(records, *, styles: dict[int, dict], second: bool = False) -> Chart:
    """A chart of one test across institutions: points by institution (in `styles`, from
    source_styles, so that an institution looks the same on every chart), the reference range
    as a labelled band, the unit on the value axis, and (for blood pressure) a second, dashed
    line for the second component, both named in the legend."""
    chart = Chart()
    dated = [r for r in records if r.effective and r.value_num is not None]
    if not dated:
        return chart
    values = [r.value_num for r in dated] + (
        [r.value_num2 for r in dated if r.value_num2 is not None] if second else []
    )
    low, high = reference_range(dated[-1].resource).bounds()
    bounds = values + [v for v in (low, high) if v is not None]
    y_min, y_max = min(bounds), max(bounds)
    pad = (y_max - y_min) * 0.1 or abs(y_max) * 0.1 or 1
    y_min, y_max = y_min - pad, y_max + pad
    stamps = [r.effective.timestamp() for r in dated]
    t_min, t_max = stamps[0], stamps[-1]
    span = (t_max - t_min) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    chart.plot = {"x": LEFT, "y": TOP, "width": plot_w, "height": plot_h, "bottom": TOP + plot_h}

    def x(stamp):
        return round(LEFT + (stamp - t_min) / span * plot_w if span > 1 else LEFT + plot_w / 2, 1)

    def y(value):
        return round(TOP + (y_max - value) / (y_max - y_min) * plot_h, 1)

    unit_code = dated[-1].unit
    chart.unit = display_unit(unit_code)
    suffix = unit_suffix(unit_code)
    fallback = {"color": PALETTE[-1], "shape": SHAPES[-1]}
    seen = []
    for record in dated:
        if record.source_id not in seen:
            seen.append(record.source_id)
    # The legend in the sources' fixed order, as every other chart of the patient lists them.
    seen.sort(key=lambda source_id: list(styles).index(source_id) if source_id in styles else 0)
    names = {record.source_id: record.source.display_name for record in dated}
    for source_id in seen:
        style = styles.get(source_id, fallback)
        chart.legend.append(
            {"name": names[source_id], **style, "marker": marker(style["shape"], 6, 6, 5)}
        )
    # What each point's markup repeats, read once per source: its colour and shape (this
    # module's own) and its name, escaped (it comes from outside).
    escaped = {
        source_id: {**styles.get(source_id, fallback), "institution": html.escape(name)}
        for source_id, name in names.items()
    }
    zone, language = timezone.get_current_timezone(), get_language()
    components = [(gettext("Systolic"), "systolic"), (gettext("Diastolic"), "diastolic")]
    drawn = thinned(dated, stamps, second=second)
    chart.total, chart.drawn = len(dated), len(drawn)
    first_line, second_line, markup = [], [], []
    for index in drawn:
        record = dated[index]
        source = escaped[record.source_id]
        values = [record.value_num] + (
            [record.value_num2] if second and record.value_num2 is not None else []
        )
        at = x(stamps[index])
        day = html.escape(_day(record.effective.astimezone(zone).date(), language))
        for component, value in enumerate(values):
            label = f"{components[component][0]} " if second else ""
            height = y(value)
            (second_line if component else first_line).append(f"{at},{height}")
            markup.append(
                POINT.format(
                    shape=source["shape"],
                    marker=marker(source["shape"], at, height),
                    color=source["color"],
                    date=day,
                    text=html.escape(f"{label}{_number(value)}{suffix}"),
                    institution=source["institution"],
                )
            )
    # Every value from outside (a name, a unit) was escaped above, and the rest are numbers
    # and this module's own words; the template engine drew these in a loop at several times
    # the cost (a tenth of a cold vital-signs page).
    chart.points_svg = mark_safe("".join(markup))  # nosemgrep: mark-safe-on-non-literal  # noqa: S308  # nosec B308 B703
    chart.lines.append(" ".join(first_line))
    if second:
        chart.lines.append(" ".join(second_line))
        chart.series = [
            {"name": components[0][0], "kind": components[0][1], "dash": ""},
            {"name": components[1][0], "kind": components[1][1], "dash": DASH},
        ]
    if low is not None or high is not None:
        top = y(high) if high is not None else TOP
        bottom = y(low) if low is not None else TOP + plot_h
        chart.band = {
            "y": max(top, TOP),
            "height": max(min(bottom, TOP + plot_h) - max(top, TOP), 0),
            "low": low,
            "high": high,
            "label": _band_label(dated[-1], unit_code),
            # The label sits inside the band's top edge, or above the plot when the band is thin.
            "label_y": max(top, TOP) + 13 if bottom - top > 18 else TOP - 8,
        }
    for i in range(5):
        value = y_min + (y_max - y_min) * i / 4
        chart.y_ticks.append(
            {"y": y(value), "label": f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"}
        )
    # The time axis: the first and the latest date at its ends and, with three or more
    # values, the date halfway in time at its middle (the middle value's date, for a few
    # years of visits and one dense year, sat beside the latest and overlapped it).
    ticks = [(x(t_min), _date(dated[0]))]
    if len(dated) > 2 and span > 1:
        halfway = dt.datetime.fromtimestamp(t_min + span / 2, tz=dt.UTC)
        ticks.append((round(LEFT + plot_w / 2, 1), short_date(timezone.localtime(halfway).date())))
    if len(dated) > 1 and dated[-1].effective != dated[0].effective:
        ticks.append((x(t_max), _date(dated[-1])))
    for index, (position, label) in enumerate(ticks):
        anchor = (
            "start"
            if index == 0 and len(ticks) > 1
            else "end"
            if index == len(ticks) - 1 and index
            else "middle"
        )
        chart.x_ticks.append({"x": position, "anchor": anchor, "label": label})
    return chart


POINT = (
    '<path class="chart-point marker-{shape}" d="{marker}" fill="{color}" stroke="#fff" '
    'stroke-width="1"><title>{date} · {text} · {institution}</title></path>'
)


ROW = "<tr><td>{date}</td><td>{value}{flag}</td><td>{institution}</td></tr>"
LINKED = '<a href="{href}">{value}</a>'
CODE = "00000000-0000-0000-0000-000000000000"  # stands for a record's code in `link`
# Where a cached table's links start (records.readmodels): the page puts the URL's start there.
ROW_LINK = f"/__record__/{CODE}/"


# The values table under a chart lists the latest TABLE_ROWS values and says how many there
# are; the patient's page links to all of them on the timeline (records/_values_table.html).
TABLE_ROWS = 100


def values_rows(points, *, link: str = "") -> str:
    """The rows of the values table under a chart (records/_values_table.html), built here for
    the reason trend builds its points' markup: the latest TABLE_ROWS of `points`, oldest
    first. `link`: the URL of a record with CODE for its code (each value links to its
    record), or "" (no links)."""
    rows = []
    # What rows repeat (a reading of 120, a unit, a day, an institution), formatted and
    # escaped once: floatformat, through Django's lazy wrappers, was most of the table's cost.
    numbers: dict = {}
    suffixes: dict = {}
    zone, language = timezone.get_current_timezone(), get_language()
    no_date = gettext("no date")

    def number(value) -> str:
        if value not in numbers:
            numbers[value] = floatformat(value, "-2")
        return numbers[value]

    for point in points[-TABLE_ROWS:]:
        value = number(point.value_num)
        if point.value_num2 is not None:
            value = f"{value}/{number(point.value_num2)}"
        if point.unit not in suffixes:
            suffixes[point.unit] = unit_suffix(point.unit)
        value = html.escape(f"{value}{suffixes[point.unit]}")
        if link:
            href = html.escape(link.replace(CODE, str(point.code)))
            value = LINKED.format(href=href, value=value)
        flagged = getattr(point, "flag", "")
        rows.append(
            ROW.format(
                # A result whose date a column cannot hold (year 1, 9999) has none: said so
                # (the table showed today's date for it).
                date=html.escape(
                    _day(point.effective.astimezone(zone).date(), language)
                    if point.effective
                    else no_date
                ),
                value=value,
                flag=f" <strong>{html.escape(flagged)}</strong>" if flagged else "",
                institution=html.escape(point.source.display_name),
            )
        )
    # Each value was escaped above.
    return mark_safe("".join(rows))  # nosemgrep: mark-safe-on-non-literal  # noqa: S308  # nosec B308 B703


def lab_detail_context(records, code: str) -> dict | None:
    """One test's page: every result of `code` within `records` (the patient's own, or a
    share's scope) across institutions, oldest first, each flagged H/L; the latest; and the
    trend chart coloured by the sources of `records`. None when there is no result of it there.
    Queries: the series' codes, the series, the sources' styles."""
    (points,) = queries.series_points(records, [((code,), Category.LAB)])
    if not points:
        return None
    for point in points:
        point.flag = flag(point)
    return {
        "points": points,
        "latest": points[-1],
        "code": code,
        "chart": trend(points, styles=source_styles(records)),
    }


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
    low, high = reference_range(record.resource).bounds()
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
    """Charts of blood pressure, weight, BMI, heart rate and glucose over `records` (a scoped
    queryset), an institution in one colour on all of them."""
    styles = source_styles(records)
    series = queries.series_points(
        records, [(codes, category) for codes, _title, _second, category in VITAL_CHARTS]
    )
    return [
        {
            "title": title,
            "points": points,
            "chart": trend(points, styles=styles, second=second),
            "second": second,
            "latest": points[-1],
        }
        for (_codes, title, second, _category), points in zip(VITAL_CHARTS, series, strict=True)
        if points
    ]

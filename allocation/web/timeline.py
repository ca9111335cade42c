"""Server-side SVG for bookings: a resource's timeline and the booking form's availability strip.

Pure functions: the views read the ledger and the bookings; these turn the
numbers into markup. Invariants:
- the size of the markup is bounded by the number of columns (at most
  ``MAX_COLUMNS`` hours, or buckets of hours), never by the number of
  bookings: bookings are summed per hour into a handful of layers (the
  viewer's own tenants, then everyone else by tenant kind), so 100,000 chips
  and thousands of bookings draw as a few step paths;
- other tenants appear only as anonymous load: a layer carries a label the
  caller chose (e.g. "Startups"), never a tenant's name or a booking id;
- every text is XML-escaped, so the output parses as XML.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from xml.sax.saxutils import escape

from django.utils.dateformat import format as date_format

HOUR = timedelta(hours=1)
MAX_COLUMNS = 744  # 31 days of hours; longer spans are drawn in buckets of hours
STRIP_MAX_BARS = 168  # the availability strip: a week of hours, or buckets


# --- numbers ------------------------------------------------------------------


def short_count(value: float) -> str:
    """Chip counts for axes: 950, 2.5k, 10k, 100k, 1.2M."""
    value = float(value)
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value < 1000:
        return f"{sign}{value:.0f}"
    if value < 1_000_000:
        return f"{sign}{value / 1000:.3g}k"
    return f"{sign}{value / 1_000_000:.3g}M"


def nice_step(span: float, ticks: int = 4) -> int:
    """A round tick step (1, 2 or 5 times a power of ten) giving closest to ``ticks`` ticks over ``span``."""
    if span <= 0:
        return 1
    power = 10 ** math.floor(math.log10(span / ticks))
    candidates = [max(1, int(f * p)) for p in (power / 10, power, power * 10) for f in (1, 2, 5)]
    return min(candidates, key=lambda step: (abs(span / step - ticks), -step))


# --- data -------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """One placed booking as the chart needs it: when, how many chips, which layer."""

    start: datetime
    end: datetime
    chips: int
    layer: str


@dataclass(frozen=True)
class Layer:
    key: str
    label: str
    values: list[int]


@dataclass(frozen=True)
class Window:
    """A maintenance window: chips out of service from start to end."""

    start: datetime
    end: datetime
    chips: int
    reason: str = ""


def hourly_layers(
    spans: Iterable[Span], *, start: datetime, hours: int, order: Sequence[tuple[str, str]]
) -> list[Layer]:
    """Chips per hour of each layer, in ``order`` (key, label); O(bookings + hours).

    A booking counts in every hour it overlaps; spans of unknown layers are
    ignored. Layers that are empty in the whole range are left out.
    """
    diff = {key: [0] * (hours + 1) for key, _ in order}
    for span in spans:
        row = diff.get(span.layer)
        if row is None or span.end <= start:
            continue
        first = max(0, math.floor((span.start - start) / HOUR))
        last = min(hours, math.ceil((span.end - start) / HOUR))
        if first >= last:
            continue
        row[first] += span.chips
        row[last] -= span.chips
    layers = []
    for key, label in order:
        running, values = 0, []
        for delta in diff[key][:hours]:
            running += delta
            values.append(running)
        if any(values):
            layers.append(Layer(key, label, values))
    return layers


# --- the resource timeline ------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    title: str
    start: datetime
    hours: int
    in_service: int  # chips in service before maintenance
    capacity: list[int]  # chips in service each hour (maintenance taken out)
    layers: list[Layer]  # bottom first
    maintenance: list[Window] = field(default_factory=list)
    now: datetime | None = None
    labels: dict[str, str] = field(default_factory=dict)  # "capacity", "maintenance", "now", "chips"


def _bucket(values: Sequence[int], size: int, pick: Callable[[Sequence[int]], int]) -> list[int]:
    if size == 1:
        return list(values)
    return [pick(values[i : i + size]) for i in range(0, len(values), size)]


def _step_path(values: Sequence[int], scale: float, *, closed: bool) -> str:
    """A step line over columns 0..n in user units (x = column, y = value * scale, up is +)."""
    parts = ["M0,0" if closed else f"M0,{round(values[0] * scale) if values else 0}"]
    previous: int | None = None if closed else (round(values[0] * scale) if values else 0)
    for i, value in enumerate(values):
        y = round(value * scale)
        if y != previous:
            if i:
                parts.append(f"H{i}")
            parts.append(f"V{y}")
            previous = y
    parts.append(f"H{len(values)}")
    if closed:
        parts.append("V0Z")
    return "".join(parts)


def render_timeline_svg(chart: Chart, *, width: int = 1040, plot_height: int = 260) -> str:
    """The chart as a standalone SVG document (no XML declaration, so it also inlines in HTML)."""
    labels = {"capacity": "Capacity", "maintenance": "Maintenance", "now": "Now", "chips": "chips", **chart.labels}
    bucket = max(1, math.ceil(chart.hours / MAX_COLUMNS))
    columns = math.ceil(chart.hours / bucket) if chart.hours else 0
    left, right, top = 56, 16, 22
    plot_width = width - left - right
    per_row = 4
    legend_rows = 1 + (len(chart.layers) + 1) // per_row
    height = top + plot_height + 30 + legend_rows * 20

    # Stack: each layer drawn as the running total from the baseline, back to front.
    totals: list[list[int]] = []
    running = [0] * chart.hours
    for layer in chart.layers:
        running = [a + b for a, b in zip(running, layer.values, strict=True)]
        totals.append(_bucket(running, bucket, max))
    capacity = _bucket(chart.capacity, bucket, min) if chart.capacity else []
    peak = max([chart.in_service, *(totals[-1] if totals else [0]), *(capacity or [0]), 1])
    step = nice_step(peak)
    y_max = step * math.ceil(peak * 1.04 / step)
    units = 1000  # y in thousandths of y_max: short integers in every path
    scale = units / y_max
    sx = plot_width / max(columns, 1)
    sy = plot_height / units

    out: list[str] = []
    w = out.append
    w(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline-chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="tl-title" font-size="11" '
        f'font-family="system-ui, DejaVu Sans, sans-serif">'
    )
    w(f'<title id="tl-title">{escape(chart.title)}</title>')
    w(
        '<defs><pattern id="tl-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f3eadf"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#b07a1a" stroke-width="2"/></pattern></defs>'
    )
    w(
        "<style>.tl-grid{stroke:#dfe4ee;stroke-width:1}.tl-axis{fill:#5d6b82}"
        ".tl-own{fill:#0b4ea2}.tl-cap{fill:none;stroke:#1b2333;stroke-width:1.5}"
        ".tl-now{stroke:#b3261e;stroke-width:1.5;stroke-dasharray:4 3}"
        ".tl-mw{fill:#b07a1a;fill-opacity:.08}</style>"
    )

    # Grid and y-axis labels (chips).
    w('<g class="tl-axis" text-anchor="end">')
    for tick in range(0, y_max + 1, step):
        y = top + plot_height - tick / y_max * plot_height
        w(f'<line class="tl-grid" x1="{left}" x2="{left + plot_width}" y1="{y:.1f}" y2="{y:.1f}"/>')
        w(f'<text x="{left - 6}" y="{y + 4:.1f}">{short_count(tick)}</text>')
    w(f'<text x="{left - 6}" y="{top - 10}" font-size="10">{escape(labels["chips"])}</text>')
    w("</g>")

    # Maintenance time spans: a faint band over the whole height, with a tooltip.
    end = chart.start + chart.hours * HOUR
    for window in chart.maintenance:
        a = max(window.start, chart.start)
        b = min(window.end, end)
        if b <= a:
            continue
        x0 = left + (a - chart.start) / HOUR / bucket * sx
        x1 = left + (b - chart.start) / HOUR / bucket * sx
        tip = f"{labels['maintenance']}: {window.chips:,} {labels['chips']}"
        if window.reason:
            tip += f" ({window.reason})"
        w(
            f'<rect class="tl-mw" x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 1):.1f}" height="{plot_height}">'
            f"<title>{escape(tip)}</title></rect>"
        )

    # The plot in (column, thousandths) units; one transform instead of thousands of coordinates.
    w(f'<g transform="matrix({sx:.5f} 0 0 {-sy:.5f} {left} {top + plot_height})">')
    if capacity and min(capacity) < chart.in_service:
        # Chips taken out by maintenance: between the fleet in service and the capacity line.
        ys = round(chart.in_service * scale)
        w(
            f'<path fill="url(#tl-hatch)" d="M0,{ys}H{columns}V{round(capacity[-1] * scale)}'
            f'{_reverse_steps(capacity, scale)}Z"><title>{escape(labels["maintenance"])}</title></path>'
        )
    palette = layer_colours([layer.key for layer in chart.layers])
    for layer, total in reversed(list(zip(chart.layers, totals, strict=True))):
        css = ' class="tl-own"' if layer.key == "own" else f' fill="{palette[layer.key]}"'
        w(f'<path{css} d="{_step_path(total, scale, closed=True)}"><title>{escape(layer.label)}</title></path>')
    if capacity:
        w(
            f'<path class="tl-cap" vector-effect="non-scaling-stroke" d="{_step_path(capacity, scale, closed=False)}">'
            f"<title>{escape(labels['capacity'])}</title></path>"
        )
    w("</g>")

    # The viewer's own bookings as a rug under the plot: visible even when they are a sliver of the fleet.
    own = next((layer for layer in chart.layers if layer.key == "own"), None)
    if own is not None:
        held = _bucket(own.values, bucket, max)
        run_start: int | None = None
        for i, value in enumerate([*held, 0]):
            if value and run_start is None:
                run_start = i
            elif not value and run_start is not None:
                w(
                    f'<rect class="tl-own" x="{left + run_start * sx:.1f}" y="{top + plot_height + 1}" '
                    f'width="{max((i - run_start) * sx, 1):.1f}" height="4"/>'
                )
                run_start = None

    # "Now".
    if chart.now is not None and chart.start <= chart.now < end:
        x = left + (chart.now - chart.start) / HOUR / bucket * sx
        w(f'<line class="tl-now" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_height}"/>')
        w(f'<text x="{x + 3:.1f}" y="{top + 10}" fill="#b3261e" font-size="10">{escape(labels["now"])}</text>')

    # x-axis: days.
    w(
        f'<line x1="{left}" x2="{left + plot_width}" y1="{top + plot_height}" y2="{top + plot_height}" '
        f'stroke="#5d6b82"/>'
    )
    w('<g class="tl-axis" text-anchor="middle">')
    days = chart.hours / 24
    every = 1 if days <= 12 else 2 if days <= 24 else 3 if days <= 36 else 7
    first_midnight = chart.start.replace(hour=0, minute=0, second=0, microsecond=0)
    if first_midnight < chart.start:
        first_midnight += timedelta(days=1)
    day, index = first_midnight, 0
    while day < end:
        x = left + (day - chart.start) / HOUR / bucket * sx
        w(f'<line class="tl-grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_height}" y2="{top + plot_height + 4}"/>')
        if index % every == 0:
            w(f'<text x="{x:.1f}" y="{top + plot_height + 16}">{escape(date_format(day, "j M"))}</text>')
        day += timedelta(days=1)
        index += 1
    if chart.hours <= 72:
        for hour in range(6, chart.hours, 6):
            moment = chart.start + hour * HOUR
            if moment.hour == 0:
                continue
            x = left + hour / bucket * sx
            w(f'<text x="{x:.1f}" y="{top + plot_height + 16}" font-size="9">{moment:%H:00}</text>')
    w("</g>")

    # Legend.
    items: list[tuple[str | None, str | None, str]] = [
        ("tl-own" if layer.key == "own" else None, palette.get(layer.key), layer.label) for layer in chart.layers
    ]
    if chart.maintenance:
        items.append((None, "url(#tl-hatch)", labels["maintenance"]))
    legend_y = top + plot_height + 34
    w('<g class="tl-legend">')
    for i, (klass, colour, label) in enumerate(items):
        row, col = divmod(i, per_row)
        x = left + col * (plot_width / per_row)
        y = legend_y + row * 20
        paint = f' class="{klass}"' if klass else f' fill="{colour}"'
        w(f'<rect{paint} x="{x:.0f}" y="{y}" width="12" height="12" rx="2"/>')
        w(f'<text x="{x + 17:.0f}" y="{y + 10}">{escape(label)}</text>')
    row, col = divmod(len(items), per_row)
    x = left + col * (plot_width / per_row)
    y = legend_y + row * 20 + 6
    w(f'<line class="tl-cap" x1="{x:.0f}" x2="{x + 12:.0f}" y1="{y}" y2="{y}"/>')
    w(f'<text x="{x + 17:.0f}" y="{y + 4}">{escape(labels["capacity"])}</text>')
    w("</g></svg>")
    return "".join(out)


def _reverse_steps(values: Sequence[int], scale: float) -> str:
    """The capacity step line walked right to left (the lower edge of the maintenance area)."""
    parts: list[str] = []
    previous = round(values[-1] * scale)
    for i in range(len(values) - 1, -1, -1):
        y = round(values[i] * scale)
        if y != previous:
            parts.append(f"H{i + 1}V{y}")
            previous = y
    parts.append("H0")
    return "".join(parts)


OTHER_COLOURS = ["#7fa7d9", "#9ccfb0", "#c9b6e4", "#f2c48d", "#a9b4c4", "#e3a6a1"]


def layer_colours(keys: Sequence[str]) -> dict[str, str]:
    """Muted colours for anonymous load; "own" is drawn in the accent colour by its class."""
    others = [k for k in keys if k != "own"]
    return {key: OTHER_COLOURS[i % len(OTHER_COLOURS)] for i, key in enumerate(others)}


# --- the booking form's availability strip ---------------------------------------


@dataclass(frozen=True)
class Bar:
    start: datetime
    hours: int
    free: int  # the fewest free chips in these hours

    def fits(self, chips: int) -> bool:
        return self.free >= chips


def strip_bars(free: Sequence[int], *, start: datetime, max_bars: int = STRIP_MAX_BARS) -> list[Bar]:
    """Free chips per hour, in at most ``max_bars`` bars (a bar of several hours shows their minimum)."""
    size = max(1, math.ceil(len(free) / max_bars))
    return [Bar(start + i * HOUR, min(size, len(free) - i), min(free[i : i + size])) for i in range(0, len(free), size)]


def render_strip_svg(
    bars: Sequence[Bar],
    *,
    chips: int | None,
    ceiling: int,
    title: str,
    tip: str = "{when}: {free} free",
    width: int = 640,
    height: int = 64,
) -> str:
    """Bars of free chips, red where the requested chips do not fit."""
    n = max(len(bars), 1)
    bar_width = width / n
    gap = 1 if bar_width >= 4 else 0
    ceiling = max(ceiling, 1, *(bar.free for bar in bars))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="strip" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="none" role="img" aria-labelledby="strip-title">'
        f'<title id="strip-title">{escape(title)}</title>'
        f'<rect width="{width}" height="{height}" fill="#eceff4"/>'
    ]
    for i, bar in enumerate(bars):
        h = bar.free / ceiling * height
        short = chips is not None and not bar.fits(chips)
        when = f"{bar.start:%Y-%m-%d %H:00}" + (f" +{bar.hours} h" if bar.hours > 1 else "")
        label = tip.format(when=when, free=f"{bar.free:,}")
        y = height - h
        out.append(
            f'<rect class="{"short" if short else "fits"}" x="{i * bar_width:.2f}" y="{y:.2f}" '
            f'width="{max(bar_width - gap, 0.5):.2f}" height="{max(h, 1.5 if short else 0):.2f}" '
            f'data-hour="{bar.start:%Y-%m-%dT%H:00Z}" data-free="{bar.free}">'
            f"<title>{escape(label)}</title></rect>"
        )
    if chips is not None and 0 < chips <= ceiling:
        y = height - chips / ceiling * height
        out.append(
            f'<line x1="0" x2="{width}" y1="{y:.2f}" y2="{y:.2f}" stroke="#1b2333" '
            f'stroke-dasharray="4 3" vector-effect="non-scaling-stroke">'
            f"<title>{escape(str(chips))}</title></line>"
        )
    out.append("</svg>")
    return "".join(out)

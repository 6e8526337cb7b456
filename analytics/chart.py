"""Listeners over time as inline SVG, drawn on the server: no chart library, nothing to load,
readable without JavaScript. Only numbers and times the server formats go into the markup."""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40


def _nice_top(peak: int) -> int:
    """The y axis's top: the peak rounded up to 1, 2 or 5 times a power of ten."""
    top, step = max(peak, 1), 1
    while True:
        for m in (1, 2, 5):
            if m * step >= top:
                return m * step
        step *= 10


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def listeners_svg(report) -> SafeString:
    """A step chart of the samples: x is time since the Space started, y the listener count."""
    samples = report.samples
    title = f"Listeners over time: peak {report.peak}, {len(samples)} samples"
    if not samples:
        return format_html(
            '<svg class="chart" role="img" viewBox="0 0 {} {}" aria-label="{}"><title>{}</title>'
            '<text x="50%" y="50%" text-anchor="middle" class="chart-empty">No samples yet: '
            "the count is taken every few seconds while the Space is live.</text></svg>",
            WIDTH, HEIGHT, "No listener samples yet", "No listener samples yet",
        )
    start = report.first_at or samples[0].at
    span = max((samples[-1].at - start).total_seconds(), 1.0)
    top = _nice_top(report.peak)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(at) -> float:
        return round(LEFT + plot_w * max((at - start).total_seconds(), 0) / span, 1)

    def y(count: int) -> float:
        return round(TOP + plot_h * (1 - count / top), 1)

    points, previous = [], None
    for sample in samples:
        if previous is not None:
            points.append((x(sample.at), y(previous)))
        points.append((x(sample.at), y(sample.listeners)))
        previous = sample.listeners
    line = " ".join(f"{px},{py}" for px, py in points)
    area = f"{points[0][0]},{y(0)} {line} {points[-1][0]},{y(0)}"
    grid = format_html_join(
        "", '<line class="chart-grid" x1="{}" x2="{}" y1="{}" y2="{}"/><text class="chart-label" x="{}" y="{}" '
        'text-anchor="end">{}</text>',
        ((LEFT, WIDTH - RIGHT, y(v), y(v), LEFT - 6, y(v) + 4, v) for v in sorted({0, top // 2, top})),
    )
    ticks = format_html_join(
        "", '<text class="chart-label" x="{}" y="{}" text-anchor="{}">{}</text>',
        ((LEFT + plot_w * f, HEIGHT - 10, anchor, _clock(span * f))
         for f, anchor in ((0, "start"), (0.5, "middle"), (1, "end"))),
    )
    return format_html(
        '<svg class="chart" role="img" viewBox="0 0 {} {}" aria-label="{}">'
        "<title>{}</title>{}{}"
        '<polygon class="chart-area" points="{}"/><polyline class="chart-line" points="{}"/></svg>',
        WIDTH, HEIGHT, title, title, grid, ticks, area, line,
    )

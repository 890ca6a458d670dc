"""Small SVG line charts for notebooks: no plotting library, saved with the notebook as text.

Text and axes use ``currentColor``, so a chart follows JupyterLab's light and dark themes; the
series colours are mid-tones readable on both.
"""
from __future__ import annotations

import html
from collections.abc import Sequence

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
Series = tuple[str, Sequence[float], Sequence[float | None]]  # (label, x as unix time, y)


def line_chart(title: str, series: list[Series], unit: str = "", width: int = 300, height: int = 150) -> str:
    """One panel: a line per series over a shared time axis."""
    pad_l, pad_r, pad_t, pad_b = 44, 8, 20, 22
    xs = [x for _, sx, sy in series for x, y in zip(sx, sy) if y is not None]
    ys = [y for _, sx, sy in series for y in sy if y is not None]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" style="color:inherit;font:11px sans-serif" role="img" '
           f'aria-label="{html.escape(title)}">',
           f'<text x="{pad_l}" y="13" fill="currentColor" font-weight="bold">{html.escape(title)}</text>']
    if not xs:
        out.append(f'<text x="{width / 2}" y="{height / 2}" fill="currentColor" text-anchor="middle" '
                   f'opacity="0.6">no requests yet</text></svg>')
        return "".join(out)
    x0, x1 = min(xs), max(xs)
    y1 = max(ys) * 1.1 or 1.0
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b

    def px(x: float) -> float:
        return pad_l + (plot_w * (x - x0) / (x1 - x0) if x1 > x0 else plot_w / 2)

    def py(y: float) -> float:
        return pad_t + plot_h * (1 - y / y1)

    out.append(f'<g stroke="currentColor" opacity="0.35"><line x1="{pad_l}" y1="{pad_t + plot_h}" '
               f'x2="{pad_l + plot_w}" y2="{pad_t + plot_h}"/><line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" '
               f'y2="{pad_t + plot_h}"/></g>')
    for value in (0.0, y1 / 2, y1):
        out.append(f'<text x="{pad_l - 4}" y="{py(value) + 4:.1f}" fill="currentColor" text-anchor="end" '
                   f'opacity="0.7">{_short(value)}{html.escape(unit)}</text>')
    span = x1 - x0
    out.append(f'<text x="{pad_l + plot_w}" y="{height - 6}" fill="currentColor" text-anchor="end" '
               f'opacity="0.7">last {_short(span)} s</text>')
    for index, (label, sx, sy) in enumerate(series):
        color = COLORS[index % len(COLORS)]
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(sx, sy) if y is not None)
        if points:
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{points}">'
                       f'<title>{html.escape(label)}</title></polyline>')
        out.append(f'<text x="{pad_l + 6 + 70 * index}" y="{height - 6}" fill="{color}">'
                   f'{html.escape(label)}</text>')
    out.append("</svg>")
    return "".join(out)


def _short(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    if value >= 10 or value == 0:
        return f"{value:.0f}"
    return f"{value:.2g}"

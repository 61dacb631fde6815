"""Small static charts as inline SVG text for the results report: no plotting library, no script,
no network. Every function returns one ``<svg>`` element sized in CSS pixels."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

FONT = 'font-family="system-ui, sans-serif" font-size="12"'
VERIFIED, REVIEW, MISSING, FLAG, NEUTRAL = "#2e7d32", "#f9a825", "#bdbdbd", "#c62828", "#1565c0"
PAIR_COLOURS = ("#1565c0", "#6a1b9a", "#00838f", "#ef6c00", "#5d4037")


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" {FONT}>'
            f"<title>{escape(title)}</title>{''.join(body)}</svg>")


def _legend(items: Sequence[tuple[str, str]], x: float, y: float) -> list[str]:
    out = []
    for name, colour in items:
        out.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{x + 14:.1f}" y="{y:.1f}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return out


def stacked_bars(rows: Sequence[tuple[str, Sequence[float]]], series: Sequence[tuple[str, str]], title: str,
                 width: int = 640, label_width: int = 170, as_share: bool = True) -> str:
    """One horizontal bar per row, split into ``series`` (name, colour). ``as_share``: each row is
    scaled to 100% and labelled with its first segment's share; else to the largest row total."""
    bar_h, gap, top = 18, 6, 26
    height = top + len(rows) * (bar_h + gap) + 6
    plot_w = width - label_width - 60
    biggest = max((sum(v) for _, v in rows), default=0) or 1
    body = _legend(series, label_width, 14)
    for i, (label, values) in enumerate(rows):
        y = top + i * (bar_h + gap)
        total = sum(values)
        scale = (plot_w / total if total else 0) if as_share else plot_w / biggest
        body.append(f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end">{escape(label[:28])}</text>')
        x = float(label_width)
        for (name, colour), v in zip(series, values, strict=True):
            w = v * scale
            if w > 0:
                body.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
                            f"<title>{escape(label)}: {escape(name)} {v:,.0f}</title></rect>")
            x += w
        note = f"{values[0] / total:.0%}" if as_share and total else f"{total:,.0f}"
        body.append(f'<text x="{x + 4:.1f}" y="{y + 13}">{note}</text>')
    return _svg(width, height, body, title)


def histogram(values: Sequence[float], lo: float, hi: float, bins: int, title: str, flagged: Sequence[float] = (),
              x_label: str = "", width: int = 320, height: int = 150, percent: bool = True) -> str:
    """Counts of ``values`` in ``bins`` equal bins over [lo, hi] (values outside land in the end bins);
    ``flagged`` values are drawn as red ticks under the axis."""
    left, bottom, top = 34, 30, 18
    plot_w, plot_h = width - left - 10, height - bottom - top
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int((v - lo) / (hi - lo) * bins)))] += 1
    peak = max(counts, default=0) or 1
    bw = plot_w / bins
    body = [f'<text x="{left}" y="12" font-weight="600">{escape(title)}</text>']
    for i, c in enumerate(counts):
        h = c / peak * plot_h
        body.append(f'<rect x="{left + i * bw:.1f}" y="{top + plot_h - h:.1f}" width="{max(bw - 1, 1):.1f}" '
                    f'height="{h:.1f}" fill="{NEUTRAL}"><title>{c}</title></rect>')
    y0 = top + plot_h
    body.append(f'<line x1="{left}" y1="{y0}" x2="{left + plot_w}" y2="{y0}" stroke="#555"/>')
    for f in flagged:
        x = left + min(max((f - lo) / (hi - lo), 0), 1) * plot_w
        body.append(f'<line x1="{x:.1f}" y1="{y0 + 2}" x2="{x:.1f}" y2="{y0 + 9}" stroke="{FLAG}" stroke-width="2"/>')
    fmt = (lambda v: f"{v:.0%}") if percent else (lambda v: f"{v:g}")
    body.append(f'<text x="{left}" y="{height - 4}">{fmt(lo)}</text>')
    body.append(f'<text x="{left + plot_w}" y="{height - 4}" text-anchor="end">{fmt(hi)}</text>')
    body.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle">{escape(x_label)}</text>')
    body.append(f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{peak}</text>')
    return _svg(width, height, body, title)


def digit_bars(counts: Sequence[int], title: str, width: int = 320, height: int = 150) -> str:
    """Frequencies of the last digits 0-9 against the uniform expectation (dashed line)."""
    left, bottom, top = 34, 22, 18
    plot_w, plot_h = width - left - 10, height - bottom - top
    n = sum(counts)
    expected = n / 10
    peak = max([*counts, expected * 1.5, 1])
    bw = plot_w / 10
    body = [f'<text x="{left}" y="12" font-weight="600">{escape(title)}</text>']
    for d, c in enumerate(counts):
        h = c / peak * plot_h
        body.append(f'<rect x="{left + d * bw + 2:.1f}" y="{top + plot_h - h:.1f}" width="{bw - 4:.1f}" '
                    f'height="{h:.1f}" fill="{NEUTRAL}"><title>{d}: {c}</title></rect>'
                    f'<text x="{left + d * bw + bw / 2:.1f}" y="{height - 6}" text-anchor="middle">{d}</text>')
    ye = top + plot_h - expected / peak * plot_h
    body.append(f'<line x1="{left}" y1="{ye:.1f}" x2="{left + plot_w}" y2="{ye:.1f}" stroke="{FLAG}" '
                'stroke-dasharray="4 3"><title>expected if uniform</title></line>')
    body.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#555"/>')
    return _svg(width, height, body, title)

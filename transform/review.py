"""The data stewards' review page: one self-contained HTML file per batch, plus a corrections.csv.

No server, no CDN: CSS, JS and the charts (SVG drawn here) are inline; field crops, cut from the
source scans (``extract.crops``; private areas never), are PNG files in ``crops/`` beside the page
(not base64 inside it), and the flagged forms are split into pages of ``per_page`` forms
(``review.html``, ``review-2.html``, ...), so no page grows with the batch. For a large batch, the
review web app (``pindai review serve``) is the tool. At the top, a
batch overview (status by kab/kota, confidence distribution, most frequently broken rules); then one
card per flagged form with, for each doubtful field, its crop beside the reading, the per-box
probabilities, the alternatives, the bubble reading, the arithmetic's suggestion or correction and
the broken rules. Filters (rule, region, reason, code) are a little inline JS; the URL hash presets
them (``review.html#rule=R3&region=3273``).
"""

from __future__ import annotations

import base64
import html
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from extract.crops import decoded_page, field_crops, png_bytes
from extract.decode import DecodeError
from schemas.layout import load_layout
from schemas.reasons import Status
from schemas.records import FieldReading, FormRecord
from schemas.register import RegisterSource, load_register
from transform.corrections import doubtful_fields, write_template
from transform.decode_arith import symbol_probs
from transform.rules import RULE_CATALOG, is_flagging, rule_number

if TYPE_CHECKING:
    from load.catalogue import Release

STATUS_COLOURS = {"verified": "#2e7d32", "needs_review": "#f9a825", "rejected": "#c62828", "failed": "#6a1b9a"}
E = html.escape
PER_PAGE = 50  # flagged forms per page of the static export


def _flagged(f: FormRecord) -> bool:
    return f.status != Status.VERIFIED


def _broken(f: FormRecord) -> list[str]:
    return sorted({i.rule_id for i in f.issues if is_flagging(i) or i.rule_id.startswith("R11")})


# --------------------------------------------------------------------------- charts (inline SVG)

def _bar_chart(rows: list[tuple[str, dict[str, int]]], keys: list[str], colours: dict[str, str],
               title: str, width: int = 380) -> str:
    """Horizontal stacked bars: one row per label, segments per key."""
    bar_h, gap, label_w = 18, 6, 150
    total_max = max((sum(d.values()) for _, d in rows), default=1) or 1
    h = 30 + len(rows) * (bar_h + gap) + 24
    out = [f'<svg class="chart" width="{width}" height="{h}" viewBox="0 0 {width} {h}" role="img" '
           f'aria-label="{E(title)}"><text x="0" y="16" class="ct">{E(title)}</text>']
    scale = (width - label_w - 50) / total_max
    for n, (label, d) in enumerate(rows):
        y = 28 + n * (bar_h + gap)
        out.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" class="cl">{E(label)}</text>')
        x = float(label_w)
        for k in keys:
            v = d.get(k, 0)
            if v:
                w = v * scale
                out.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colours[k]}">'
                           f'<title>{E(label)}: {E(k)} {v}</title></rect>')
                x += w
        out.append(f'<text x="{x + 4:.1f}" y="{y + 13}" class="cl">{sum(d.values())}</text>')
    ly = h - 8
    lx = label_w
    for k in keys:
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{colours[k]}"/>'
                   f'<text x="{lx + 14}" y="{ly}" class="cl">{E(k)}</text>')
        lx += 14 + 8 * len(k) + 16
    out.append("</svg>")
    return "".join(out)


def _histogram(values: list[float], title: str, bins: int = 10, width: int = 380, height: int = 180) -> str:
    counts, edges = np.histogram(np.clip(values, 0, 1), bins=bins, range=(0, 1)) if values else (
        np.zeros(bins, int), np.linspace(0, 1, bins + 1))
    top = max(int(counts.max()), 1)
    pad_l, pad_b, pad_t = 36, 28, 26
    bw = (width - pad_l - 10) / bins
    out = [f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{E(title)}"><text x="0" y="16" class="ct">{E(title)}</text>']
    ph = height - pad_b - pad_t
    for i, c in enumerate(counts):
        h = ph * int(c) / top
        x = pad_l + i * bw
        colour = "#c62828" if edges[i + 1] <= 0.5 else "#f9a825" if edges[i + 1] <= 0.9 else "#2e7d32"
        out.append(f'<rect x="{x + 1:.1f}" y="{pad_t + ph - h:.1f}" width="{bw - 2:.1f}" height="{h:.1f}" '
                   f'fill="{colour}"><title>{edges[i]:.1f}-{edges[i + 1]:.1f}: {int(c)}</title></rect>')
        if c:
            out.append(f'<text x="{x + bw / 2:.1f}" y="{pad_t + ph - h - 3:.1f}" text-anchor="middle" '
                       f'class="cl">{int(c)}</text>')
        out.append(f'<text x="{x:.1f}" y="{height - 10}" class="cl">{edges[i]:.1f}</text>')
    out.append(f'<line x1="{pad_l}" y1="{pad_t + ph}" x2="{width - 10}" y2="{pad_t + ph}" stroke="#555"/></svg>')
    return "".join(out)


def overview(forms: list[FormRecord], names: dict[str, str] | None = None) -> str:
    names = names or {}
    by_kab: dict[str, Counter] = defaultdict(Counter)
    for f in forms:
        by_kab[f.region_code[:4]][f.status.value] += 1
    keys = [k for k in STATUS_COLOURS if any(k in c for c in by_kab.values())] or ["verified"]
    rows = [(f"{k} {names.get(k, '')}".strip()[:24], dict(by_kab[k])) for k in sorted(by_kab)]
    status_svg = _bar_chart(rows, keys, STATUS_COLOURS, "Status per kab/kota (forms)")
    conf_svg = _histogram([f.min_confidence for f in forms if f.min_confidence is not None],
                          "Lowest field confidence per form")
    rules = Counter(r for f in forms for r in _broken(f))
    top = rules.most_common(12)
    rule_rows = [(r, {"forms": n}) for r, n in top]
    rules_svg = _bar_chart(rule_rows, ["forms"], {"forms": "#1565c0"}, "Most frequently broken rules") if top \
        else '<p class="muted">No rule is broken in this batch.</p>'
    status = Counter(f.status.value for f in forms)
    auto = sum(1 for f in forms if f.status == Status.VERIFIED and f.reasons)
    stats = " · ".join(f"<b>{status.get(k, 0)}</b> {k.replace('_', ' ')}" for k in STATUS_COLOURS if status.get(k))
    return (f'<section id="overview"><h2>Batch overview</h2><p>{len(forms)} forms: {stats} '
            f'({auto} verified after automatic or steward corrections)</p>'
            f'<div class="charts">{status_svg}{conf_svg}{rules_svg}</div></section>')


# --------------------------------------------------------------------------- form cards

def _b64(img: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(img)).decode()


def _box_table(r: FieldReading) -> str:
    cells = []
    for i, d in enumerate(r.digits):
        sp = symbol_probs(d.probs)
        order = np.argsort(-sp)[:3]
        txt = " ".join(f"{'-' if s == 10 else s}:{sp[s]:.2f}" for s in order if sp[s] >= 0.01)
        cls = "low" if sp[order[0]] < 0.9 else ""
        cells.append(f'<span class="box {cls}" title="box {i + 1}">{E(txt)}</span>')
    return "".join(cells)


def _fmt(v: int | None) -> str:
    return "—" if v is None else str(v)


def _field_row(form: FormRecord, fid: str, why: list[str], crop: str | None, bubbles_crop: str | None = None
               ) -> str:
    layout = load_layout(form.form_type)
    fld = layout.field(fid)
    r = next((x for x in form.readings if x.field_id == fid), None)
    img = f'<img alt="{E(fid)}" src="{crop}">' if crop else '<span class="muted">no crop (source not available)</span>'
    if bubbles_crop:
        img += f'<img class="bub" alt="{E(fid)} bubbles" src="{bubbles_crop}">'
    value = form.values.get(fid)
    read = "" if r is None else (f"read {_fmt(r.value)} (p={r.confidence:.2f})" if r.value != value
                                 else f"p={r.confidence:.2f}")
    alts = "" if r is None else ", ".join(f"{_fmt(v)} ({p:.2f})" for v, p in r.alternatives[:4] if p >= 0.01)
    bubble = "" if r is None or r.bubble_value is None and not r.bubble_confident else (
        f"{_fmt(r.bubble_value)}{'' if r.bubble_confident else ' (unsure)'}")
    notes = []
    for c in form.corrections:
        if c.field_id == fid:
            who = "auto" if c.by == "auto" else f"{E(c.by)} {E(c.at)}"
            notes.append(f'<div class="corr">{who}: {_fmt(c.old)} → {_fmt(c.new)} <i>{E(c.reason)}</i></div>')
    for s in form.suggestions:
        if s.field_id == fid:
            notes.append(f'<div class="sugg">suggested {_fmt(s.new)} (p={s.probability:.2f}, '
                         f'{s.solutions} solution(s) of {E(", ".join(s.rules))}) {E(s.detail)}</div>')
    boxes = "" if r is None else _box_table(r)
    return (f'<tr><td class="fid"><b>{E(fid)}</b><br><span class="muted">{E(fld.section)} {E(fld.label_id)}'
            f'</span></td><td class="crop">{img}</td><td class="val"><span class="v">{_fmt(value)}</span> '
            f'<span class="muted">{E(read)}</span><div>{boxes}</div></td><td>{E(alts)}</td><td>{E(bubble)}</td>'
            f'<td>{E(", ".join(why))}{"".join(notes)}</td></tr>')


def _issue_rows(form: FormRecord) -> str:
    out = []
    for i in form.issues:
        num = rule_number(i.rule_id)
        doc = RULE_CATALOG.get(num) if num else None
        exp = "" if i.expected is None else f"{i.expected:g}"
        found = "" if i.found is None else f"{i.found:g}"
        out.append(f'<li class="{E(i.severity)}"><b>{E(i.rule_id)}</b> <span class="sev">{E(i.severity)}</span> '
                   f'{E(i.message_id)}<br><span class="muted">{E(i.message_en)}'
                   f'{f" — expected {exp}, found {found}" if exp or found else ""}'
                   f'{f" ({E(doc.text_en)})" if doc else ""}</span></li>')
    return "".join(out)


def form_card(form: FormRecord, crops: dict[str, str], names: dict[str, str] | None = None) -> str:
    names = names or {}
    doubt = doubtful_fields(form)
    rules = _broken(form)
    region = form.region_code
    place = " / ".join(n for n in (names.get(region[:4]), names.get(region[:6]), names.get(region[:10])) if n)
    rows = "".join(_field_row(form, fid, why, crops.get(fid), crops.get(f"{fid}#bubbles"))
                   for fid, why in doubt.items())
    files = ", ".join(form.files)
    return (f'<article class="form" data-rules="{E(" ".join(rules))}" data-region="{E(region[:4])}" '
            f'data-reasons="{E(" ".join(r.value for r in form.reasons))}" data-code="{E(region)}" '
            f'data-status="{form.status.value}">'
            f'<h3><span class="st" style="background:{STATUS_COLOURS.get(form.status.value, "#999")}">'
            f'{E(form.status.value)}</span> {E(region)} <small>{E(form.form_type.value)}</small> '
            f'<small class="muted">{E(place)}</small></h3>'
            f'<p class="muted">reasons: {E(", ".join(r.value for r in form.reasons))} · files: {E(files)}</p>'
            f'<ul class="issues">{_issue_rows(form)}</ul>'
            + (f'<table class="fields"><thead><tr><th>field</th><th>scan</th><th>reading</th><th>alternatives'
               f'</th><th>bubbles</th><th>why / arithmetic</th></tr></thead><tbody>{rows}</tbody></table>'
               if rows else "")
            + "</article>")


def collect_crops(forms: list[FormRecord], source_root: Path | None, crops_dir: Path | None = None
                  ) -> dict[tuple[str, str, str], str]:
    """(region, form type, field) -> the crop's URL, decoding each source page once: a file under
    ``crops_dir`` (URL relative to its parent), or a data URL when ``crops_dir`` is None."""
    want: dict[tuple[str, int], list[tuple[FormRecord, int, dict[str, list[str]]]]] = defaultdict(list)
    for f in forms:
        doubt = doubtful_fields(f)
        for p in f.pages:
            fids = [r.field_id for r in p.fields if r.field_id in doubt]
            if fids:
                want[(p.file, p.page_index)].append((f, p.registration.page, {x: [] for x in fids}))
    out: dict[tuple[str, str, str], str] = {}
    if source_root is None:
        return out
    for (file, index), items in sorted(want.items()):
        path = Path(source_root) / file
        if not path.is_file():
            continue
        try:
            img = decoded_page(path, index)
        except DecodeError:
            continue
        if img is None:
            continue
        for f, page_no, fids in items:
            page = load_layout(f.form_type).pages[page_no - 1]
            reg = next(p.registration for p in f.pages if p.file == file and p.page_index == index)
            for fid, crop in field_crops(img.gray, reg, page, fids, bubbles=True).items():
                key = (f.region_code, f.form_type.value, fid)
                if crops_dir is None:
                    out[key] = _b64(crop)
                    continue
                name = f"{f.region_code}_{f.form_type.value}_{fid.replace('#', '-')}.png"
                crops_dir.mkdir(parents=True, exist_ok=True)
                (crops_dir / name).write_bytes(png_bytes(crop))
                out[key] = f"{crops_dir.name}/{name}"
    return out


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#263238;color:#fff;padding:12px 20px}header h1{margin:0;font-size:20px}
main{padding:12px 20px}.muted{color:#777}.charts{display:flex;flex-wrap:wrap;gap:16px}
.chart{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px}.ct{font-weight:600;font-size:13px}
.cl{font-size:11px;fill:#333}#filters{position:sticky;top:0;background:#eceff1;padding:8px 10px;z-index:2;
border-bottom:1px solid #ccc;display:flex;gap:10px;align-items:center;flex-wrap:wrap}
select,input{font:inherit;padding:2px 4px}.form{background:#fff;border:1px solid #ddd;border-radius:6px;
margin:12px 0;padding:8px 12px}.form h3{margin:4px 0;font-size:16px}.st{color:#fff;border-radius:4px;
padding:1px 6px;font-size:12px}.issues{margin:4px 0 8px;padding-left:18px}.issues .hard b{color:#c62828}
.issues .soft b{color:#ef6c00}.sev{font-size:11px;color:#777}table.fields{border-collapse:collapse;width:100%}
.fields th,.fields td{border-top:1px solid #eee;padding:4px 6px;vertical-align:top;text-align:left}
.fields img{max-height:80px;max-width:300px;border:1px solid #ccc;vertical-align:top;margin-right:4px}
.fields img.bub{max-height:150px}
.v{font-size:20px;font-weight:700}.box{display:inline-block;font:11px monospace;background:#f1f8e9;
margin:1px;padding:0 3px;border-radius:3px}.box.low{background:#ffebee}.corr{color:#1565c0}.sugg{color:#6a1b9a}
[hidden]{display:none!important}.pager{margin:8px 0}.pager a,.pager b{padding:0 4px}
"""

_JS = """
(function(){
  var cards = Array.prototype.slice.call(document.querySelectorAll('article.form'));
  var f = {rule: document.getElementById('f-rule'), region: document.getElementById('f-region'),
           reason: document.getElementById('f-reason'), code: document.getElementById('f-code')};
  var shown = document.getElementById('f-count');
  function has(list, v){ return !v || (' ' + list + ' ').indexOf(' ' + v + ' ') >= 0; }
  function apply(){
    var n = 0;
    cards.forEach(function(c){
      var ok = has(c.dataset.rules, f.rule.value) && (!f.region.value || c.dataset.region === f.region.value)
        && has(c.dataset.reasons, f.reason.value) && c.dataset.code.indexOf(f.code.value.trim()) === 0;
      c.hidden = !ok; if (ok) n++;
    });
    shown.textContent = n + ' of ' + cards.length + ' flagged forms shown';
  }
  var hash = new URLSearchParams(location.hash.replace(/^#/, ''));
  Object.keys(f).forEach(function(k){
    if (hash.get(k) !== null) f[k].value = hash.get(k);
    f[k].addEventListener(f[k].tagName === 'INPUT' ? 'input' : 'change', apply);
  });
  apply();
  document.body.dataset.ready = '1';
})();
"""


def _options(values: list[str], labels: dict[str, str] | None = None) -> str:
    labels = labels or {}
    return "".join(f'<option value="{E(v)}">{E(labels.get(v, v))}</option>' for v in values)


def page_name(n: int) -> str:
    return "review.html" if n == 1 else f"review-{n}.html"


def _pager(n: int, pages: int) -> str:
    if pages <= 1:
        return ""
    links = " ".join(f"<b>{k}</b>" if k == n else f'<a href="{page_name(k)}">{k}</a>' for k in range(1, pages + 1))
    return f'<nav class="pager">pages: {links}</nav>'


def render_html(forms: list[FormRecord], crops: dict[tuple[str, str, str], str], title: str,
                names: dict[str, str] | None = None, page: int = 1, per_page: int | None = None) -> str:
    """Page ``page`` (1-based) of the review: the overview of every form, then ``per_page`` flagged
    forms (all of them when None)."""
    names = names or {}
    flagged = sorted((f for f in forms if _flagged(f)), key=lambda f: (f.region_code, f.form_type.value))
    pages = max(1, -(-len(flagged) // per_page)) if per_page else 1
    total = len(flagged)
    if per_page:
        flagged = flagged[(page - 1) * per_page:page * per_page]
    rules = sorted({r for f in flagged for r in _broken(f)}, key=lambda r: (rule_number(r) or 99, r))
    regions = sorted({f.region_code[:4] for f in flagged})
    reasons = sorted({r.value for f in flagged for r in f.reasons})
    region_labels = {k: f"{k} {names.get(k, '')}".strip() for k in regions}
    cards = "".join(form_card(f, {fid: url for (c, t, fid), url in crops.items()
                                  if c == f.region_code and t == f.form_type.value}, names) for f in flagged)
    filters = (
        '<div id="filters"><label>rule <select id="f-rule"><option value="">all</option>'
        f'{_options(rules)}</select></label>'
        '<label>kab/kota <select id="f-region"><option value="">all</option>'
        f'{_options(regions, region_labels)}</select></label>'
        '<label>reason <select id="f-reason"><option value="">all</option>'
        f'{_options(reasons)}</select></label>'
        '<label>code <input id="f-code" placeholder="TPS / kecamatan code" size="16"></label>'
        '<span id="f-count"></span></div>')
    return (f'<!DOCTYPE html><html lang="id"><head><meta charset="utf-8"><title>{E(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>'
            f'<body><header><h1>{E(title)}</h1><div>Periksa formulir yang ditandai · review the flagged forms; '
            f'enter decisions in <code>corrections.csv</code> (same folder)</div></header><main>'
            f'{overview(forms, names)}<h2>Flagged forms ({total})</h2>{_pager(page, pages)}{filters}'
            f'<div id="forms">{cards or "<p>Nothing to review.</p>"}</div>{_pager(page, pages)}</main>'
            f'<script>{_JS}</script></body></html>')


def export_review(release: Release | Path, out_dir: Path, source_root: Path | None = None,
                  register: RegisterSource = None, per_page: int = PER_PAGE) -> Path:
    """Write ``review.html`` (and ``review-N.html`` past ``per_page`` flagged forms), the crops
    (``crops/*.png``) and ``corrections.csv`` for the release in ``release_dir`` into ``out_dir``;
    crops come from ``source_root`` (default: the run's ``input_dir``). Returns the first page's
    path. A missing source file only loses its crops. ``release``: opened (``load.catalogue``), or
    the path of a release folder or releases folder."""
    if not hasattr(release, "records"):
        from load.catalogue import open_release

        release = open_release(Path(release))
    out_dir = Path(out_dir)
    if source_root is None:
        source_root = release.input_dir
    forms = release.records
    flagged = [f for f in forms if _flagged(f)]
    out_dir.mkdir(parents=True, exist_ok=True)
    crops = collect_crops(flagged, source_root, out_dir / "crops")
    reg = load_register(register)
    names = reg.id2name if reg is not None else {}
    title = f"pindai review · release {release.id}"
    pages = max(1, -(-len(flagged) // per_page))
    for n in range(1, pages + 1):
        (out_dir / page_name(n)).write_text(render_html(forms, crops, title, names, n, per_page), "utf-8")
    write_template(forms, out_dir / "corrections.csv")
    return out_dir / page_name(1)


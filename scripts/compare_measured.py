"""Measure the official templates as `pindai forms measure` does and compare with the hand-built layouts.

Run from the repo root with ../shared beside it::

    python scripts/compare_measured.py [--dpi 144] [--write docs/measured]

Prints, per page, how many layout boxes have a measured box within 1 pt, the largest edge
difference, what the layout has that was not found and what was found beyond the layout;
likewise tag corners, marks, bubbles, frame and ruled rows. With ``--write`` the measured JSON
of every page is written there (what a person would start a definition from).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from extract.template_measure import match_boxes, measure_page
from schemas.layout import load_layout

ROOT = Path(__file__).resolve().parents[1]
FORMS = ROOT.parent / "shared" / "forms"
OFFICIAL = {"ppwp": "C.HASIL-PPWP.pdf", "ppwp-salinan": "C.HASIL-SALINAN-PPWP.pdf"}


def _edge(a: dict, b: dict) -> float:
    return max(abs(a["x"] - b["x"]), abs(a["y"] - b["y"]), abs(a["x"] + a["w"] - b["x"] - b["w"]),
               abs(a["y"] + a["h"] - b["y"] - b["h"]))


def compare(form_type: str, dpi: float, write: Path | None) -> None:
    pdf = FORMS / OFFICIAL[form_type]
    for lay in load_layout(form_type).pages:
        got = measure_page(pdf, lay.page, dpi).layout
        if write:
            write.mkdir(parents=True, exist_ok=True)
            (write / f"{pdf.stem}-p{lay.page}.json").write_text(json.dumps(got, indent=1) + "\n", encoding="utf-8")
        exp = [{**b.model_dump(), "field": f.id} for f in lay.fields for b in f.boxes]
        mes = [{**b, "field": f["id"]} for f in got["fields"] for b in f["boxes"]]
        pairs, missing, extra = match_boxes(exp, mes, 1.0)
        worst = max((d for *_, d in pairs), default=0.0)
        names = sorted({f"{e['field']}={m['field']}" for e, m, _ in pairs})
        print(f"{form_type} p{lay.page} @{dpi:g} dpi: {len(pairs)}/{len(exp)} layout boxes measured within 1 pt "
              f"(largest edge difference {worst:.2f} pt); not found: {len(missing)}; found beyond the layout: "
              f"{len(extra)} {sorted({m['field'] for m in extra})}")
        print(f"  fields: {', '.join(names)}" if len(names) < 10 else f"  fields: {len(names)} pairs of names")
        if lay.tag:
            d = max(abs(a - b) for p, q in zip(lay.tag.corners, got["tag"]["corners"], strict=True)
                    for a, b in zip(p, q, strict=True))
            print(f"  tag {lay.tag.id} -> {got['tag']['id']}, corners within {d:.2f} pt")
        if lay.marks:
            d = max(_edge(m.rect.model_dump(), g["rect"]) for m, g in zip(lay.marks, got["marks"], strict=True))
            print(f"  marks {len(lay.marks)} -> {len(got['marks'])}, within {d:.2f} pt")
        if lay.frame:
            print(f"  frame within {_edge(lay.frame.model_dump(), got['frame']):.2f} pt; ruled rows "
                  f"{len(lay.ruled_rows)} -> {len(got['ruled_rows'])}, within "
                  f"{max(abs(a - b) for a, b in zip(lay.ruled_rows, got['ruled_rows'], strict=False)):.2f} pt")
        for f in lay.fields:
            if f.bubbles:
                g = next(x for x in got["fields"] if _edge(x["boxes"][0], f.boxes[0].model_dump()) <= 1)
                d = max(max(abs(c.cx - e["cx"]), abs(c.cy - e["cy"]), abs(c.r - e["r"]))
                        for col, gcol in zip(f.bubbles, g.get("bubbles") or [], strict=True)
                        for c, e in zip(col, gcol, strict=True))
                print(f"  bubbles of {f.id}: 3 x 10 within {d:.2f} pt")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dpi", type=float, default=144.0)
    ap.add_argument("--write", type=Path, default=None)
    a = ap.parse_args()
    if not FORMS.exists():
        raise SystemExit(f"{FORMS} is absent: the official templates are needed")
    for ft in OFFICIAL:
        compare(ft, a.dpi, a.write)


if __name__ == "__main__":
    main()

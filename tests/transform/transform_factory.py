"""Builders for readings, pages and forms without images (per-box probabilities made by hand)."""

from __future__ import annotations

import numpy as np

from extract.digits import read_number
from schemas.layout import FormType, load_layout
from schemas.records import (
    DIGIT_CLASSES,
    FieldReading,
    FileIdentity,
    FileOutcome,
    InputFile,
    PageReading,
    Registration,
)
from transform.assemble import FormDraft

THRESHOLD = 0.9
TPS = "3273010001004"


def consistent_ppwp() -> dict[str, int]:
    v = {"dpt_l": 120, "dpt_p": 130, "voters_dpt_l": 90, "voters_dpt_p": 100,
         "voters_dptb_l": 2, "voters_dptb_p": 1, "voters_dpk_l": 1, "voters_dpk_p": 0,
         "disabled_voters_l": 1, "disabled_voters_p": 2}
    for r in ("dpt", "voters_dpt", "voters_dptb", "voters_dpk", "disabled_voters"):
        v[f"{r}_total"] = v[f"{r}_l"] + v[f"{r}_p"]
    for g in ("l", "p", "total"):
        v[f"voters_total_{g}"] = v[f"voters_dpt_{g}"] + v[f"voters_dptb_{g}"] + v[f"voters_dpk_{g}"]
    v |= {"votes_1": 80, "votes_2": 70, "votes_3": 39, "invalid_votes": 5, "valid_votes": 189,
          "total_votes": 194, "ballots_received": 255, "ballots_used": 194, "ballots_damaged": 1,
          "ballots_unused": 60}
    return v


def box_symbols(value: int | None, n: int) -> list[str]:
    s = "" if value is None else str(value)
    return ["_"] * (n - len(s)) + list(s)


def box_probs(dist: dict[str, float]) -> list[float]:
    """Class probabilities from {symbol: p}; the rest spread evenly."""
    p = np.zeros(len(DIGIT_CLASSES))
    for sym, q in dist.items():
        p[DIGIT_CLASSES.index(sym)] = q
    rest = max(0.0, 1.0 - p.sum())
    free = p == 0
    p[free] = rest / free.sum()
    return list(p / p.sum())


def reading(field_id: str, value: int | None, page: int = 1, n: int = 3,
            boxes: dict[int, dict[str, float]] | None = None, bubble: int | None = None) -> FieldReading:
    """A field written as ``value``, read confidently except ``boxes`` {index: {symbol: p}}."""
    probs = []
    for i, sym in enumerate(box_symbols(value, n)):
        probs.append(box_probs((boxes or {}).get(i, {sym: 0.9995})))
    arr = np.array(probs)
    fr = read_number(arr, THRESHOLD).to_field(arr, field_id, page)
    if bubble is not None:
        fr.bubble_value, fr.bubble_confident = bubble, True
    return fr


def registration(ft: FormType, page: int, H: list[list[float]] | None = None) -> Registration:
    return Registration(form_type=ft, page=page, homography=H or [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                        rotation=0, reprojection_error=0.1, marks_found=4, method="tag+marks", score=0.95,
                        px_per_unit=1.0)


def pages_for(values: dict[str, int | None], ft: FormType = FormType.PPWP,
              unsure: dict[str, dict[int, dict[str, float]]] | None = None,
              file: str = "scan.png", bubbles: dict[str, int] | None = None,
              header: dict[int, dict[str, str]] | None = None,
              H: list[list[float]] | None = None, page_index_of: dict[int, int] | None = None,
              file_of: dict[int, str] | None = None) -> list[PageReading]:
    layout = load_layout(ft)
    out = []
    for p in layout.pages:
        fields = [reading(f.id, values.get(f.id), p.page, len(f.boxes), (unsure or {}).get(f.id),
                          (bubbles or {}).get(f.id)) for f in p.fields]
        out.append(PageReading(file=(file_of or {}).get(p.page, file), file_sha256="0" * 64,
                               page_index=(page_index_of or {}).get(p.page, p.page - 1),
                               registration=registration(ft, p.page, H), fields=fields,
                               header_text=(header or {}).get(p.page, {})))
    return out


def draft(values: dict[str, int | None], ft: FormType = FormType.PPWP, region: str = TPS,
          drop_pages: tuple[int, ...] = (), **kw) -> FormDraft:
    d = FormDraft(region, ft)
    for page in pages_for(values, ft, **kw):
        if page.registration.page not in drop_pages:
            d.add(page)
    return d


def outcome(values: dict[str, int | None], ft: FormType = FormType.PPWP, region: str = TPS,
            file: str | None = None, **kw) -> FileOutcome:
    file = file or f"{region}_{ft.value}.pdf"
    ident = FileIdentity(region_code=region, form_type=ft, source="name")
    inp = InputFile(path=file, rel_path=file, size=1, sha256="0" * 64, identity=ident)
    return FileOutcome(file=inp, pages=pages_for(values, ft, file=file, **kw))

"""Rules across forms (FORMS.md 13, 14) and coverage against the TPS register.

- R13 (soft, flags for review): the DPT (A: L, P, L+P) is the same on every form of one TPS.
- R14 (hard): every D.Hasil Kecamatan field equals the sum over its TPS' C.Hasil PPWP forms.
  ``reconcile`` returns the comparison table (one row per kecamatan and field); the rule is attached
  to the D.Hasil form only where the register shows the batch holds a PPWP form for *every* TPS of
  the kecamatan (a partial batch is expected to differ). Without a register the table is still
  built (``complete`` is None).
- ``coverage``: expected (register) vs received vs verified TPS, per kab/kota and province.

The register is the ``kpu2024-wilayah-tps.json`` format: ``id2name`` (code -> name) and ``tps``
(10-digit desa code -> ``[n]`` regular TPS 001..n, or ``[n, first_special, last_special]``).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from schemas.layout import FormType
from schemas.reasons import Status
from schemas.records import FormRecord, RuleResult
from transform.rules import HARD, SOFT

C_HASIL_PPWP = (FormType.PPWP, FormType.PPWP_SALINAN)
D_HASIL = (FormType.DHASIL_PPWP,)
DPT_FIELDS = ("dpt_l", "dpt_p", "dpt_total")


def load_register(path: Path) -> dict:
    data = json.loads(Path(path).read_text("utf-8"))
    if "tps" not in data or "id2name" not in data:
        raise ValueError(f"{path}: not a TPS register (needs 'id2name' and 'tps')")
    return data


def desa_tps_codes(desa: str, entry: list[int]) -> list[str]:
    """The 13-digit TPS codes of one desa from its register entry."""
    codes = [f"{desa}{n:03d}" for n in range(1, int(entry[0]) + 1)]
    if len(entry) >= 3:
        codes += [f"{desa}{n:03d}" for n in range(int(entry[1]), int(entry[2]) + 1)]
    return codes


def expected_tps(register: dict, prefix: str = "") -> set[str]:
    return {c for desa, entry in register["tps"].items() if desa.startswith(prefix)
            for c in desa_tps_codes(desa, entry)}


# --------------------------------------------------------------------------- R13

def dpt_consistency(forms: list[FormRecord]) -> dict[tuple[str, str], list[RuleResult]]:
    """R13: forms of one TPS whose DPT differs from the most common DPT of that TPS (all of them
    when there is no majority), keyed by (region code, form type)."""
    by_tps: dict[str, list[FormRecord]] = defaultdict(list)
    for f in forms:
        if len(f.region_code) == 13 and all(f.values.get(k) is not None for k in DPT_FIELDS):
            by_tps[f.region_code].append(f)
    out: dict[tuple[str, str], list[RuleResult]] = {}
    for tps, group in by_tps.items():
        dpts = Counter(tuple(f.values[k] for k in DPT_FIELDS) for f in group)
        if len(dpts) < 2:
            continue
        (top, n_top), *rest = dpts.most_common()
        majority = top if n_top > rest[0][1] else None
        for f in group:
            mine = tuple(f.values[k] for k in DPT_FIELDS)
            if mine == majority:
                continue
            others = ", ".join(sorted({g.form_type.value for g in group if g is not f}))
            out.setdefault((f.region_code, f.form_type.value), []).append(RuleResult(
                rule_id="R13", severity=SOFT, fields=list(DPT_FIELDS),
                expected=float(majority[2]) if majority else None, found=float(mine[2]),  # type: ignore[arg-type]
                message_id=f"DPT TPS {tps} ({mine[2]}) berbeda dengan formulir lain ({others})",
                message_en=f"The DPT of TPS {tps} ({mine[2]}) differs from its other forms ({others})"))
    return out


# --------------------------------------------------------------------------- R14

def _pick_ppwp(forms: list[FormRecord]) -> dict[str, FormRecord]:
    """One C.Hasil PPWP form per TPS: verified first, then the plano over the Salinan."""
    best: dict[str, FormRecord] = {}
    for f in forms:
        if f.form_type not in C_HASIL_PPWP or len(f.region_code) != 13:
            continue
        rank = (f.status == Status.VERIFIED, f.form_type == FormType.PPWP)
        cur = best.get(f.region_code)
        if cur is None or rank > (cur.status == Status.VERIFIED, cur.form_type == FormType.PPWP):
            best[f.region_code] = f
    return best


def reconcile(forms: list[FormRecord], register: dict | None = None) -> list[dict]:
    """Rule 14 as a table: for each D.Hasil form and each of its kecamatan-level fields,
    ``{kecamatan_code, field_id, d_hasil, sum, n_forms, n_verified, expected_forms, complete, diff}``.

    ``sum`` adds the field over the batch's PPWP C.Hasil forms of that kecamatan (one per TPS) that
    have a value; ``diff = d_hasil - sum`` (None when either side is missing); ``expected_forms``
    and ``complete`` (every registered TPS has a form in the batch) need the register.
    """
    ppwp = _pick_ppwp(forms)
    by_kec: dict[str, list[FormRecord]] = defaultdict(list)
    for code, f in sorted(ppwp.items()):
        by_kec[code[:6]].append(f)
    rows = []
    for d in sorted((f for f in forms if f.form_type in D_HASIL), key=lambda f: f.region_code):
        kec = d.region_code[:6]
        tps_forms = by_kec.get(kec, [])
        expected = expected_tps(register, kec) if register else None
        complete = None if expected is None else expected <= {f.region_code for f in tps_forms}
        for fid in (k for k in d.values if not k.startswith("desa_")):
            vals = [(f.values.get(fid), f.status) for f in tps_forms]
            vals = [(v, s) for v, s in vals if v is not None]
            total = sum(v for v, _ in vals) if vals else None
            dv = d.values.get(fid)
            rows.append({
                "kecamatan_code": kec, "field_id": fid, "d_hasil": dv, "sum": total, "n_forms": len(vals),
                "n_verified": sum(1 for _, s in vals if s == Status.VERIFIED),
                "expected_forms": None if expected is None else len(expected), "complete": complete,
                "diff": None if dv is None or total is None else dv - total,
            })
    return rows


def recap_issues(rows: list[dict]) -> dict[str, list[RuleResult]]:
    """R14 issues per kecamatan code, from the ``reconcile`` rows of complete kecamatan."""
    out: dict[str, list[RuleResult]] = {}
    for r in rows:
        if r["complete"] is not True or not r["diff"]:
            continue
        out.setdefault(r["kecamatan_code"], []).append(RuleResult(
            rule_id="R14.recap", severity=HARD, fields=[r["field_id"]], expected=float(r["sum"]),
            found=float(r["d_hasil"]),
            message_id=f"{r['field_id']}: D.Hasil {r['d_hasil']} berbeda dengan jumlah {r['n_forms']} "
                       f"C.Hasil TPS ({r['sum']})",
            message_en=f"{r['field_id']}: D.Hasil {r['d_hasil']} differs from the sum of {r['n_forms']} "
                       f"TPS C.Hasil forms ({r['sum']})"))
    return out


def cross_form_issues(forms: list[FormRecord], register: dict | None = None
                      ) -> dict[tuple[str, str], list[RuleResult]]:
    out = dpt_consistency(forms)
    recap = recap_issues(reconcile(forms, register))
    for f in forms:
        if f.form_type in D_HASIL and f.region_code[:6] in recap:
            out.setdefault((f.region_code, f.form_type.value), []).extend(recap[f.region_code[:6]])
    return out


# --------------------------------------------------------------------------- coverage

def coverage(forms: list[FormRecord], register: dict, form_types: tuple[FormType, ...] = C_HASIL_PPWP,
             all_regions: bool = False) -> list[dict]:
    """Expected vs received vs verified TPS per province and kab/kota.

    A TPS is *received* when the batch holds a form of ``form_types`` for it and *verified* when one
    of them is verified. Rows ``{level, code, name, expected, received, verified, unexpected}``
    (``unexpected``: received TPS codes the register does not list). Only regions the batch touches
    unless ``all_regions``.
    """
    received: dict[str, bool] = {}
    for f in forms:
        if f.form_type in form_types and len(f.region_code) == 13:
            received[f.region_code] = received.get(f.region_code, False) or f.status == Status.VERIFIED
    expected: dict[str, set[str]] = defaultdict(set)
    for desa, entry in register["tps"].items():
        codes = desa_tps_codes(desa, entry)
        expected[desa[:2]].update(codes)
        expected[desa[:4]].update(codes)
    touched = {c[:2] for c in received} | {c[:4] for c in received}
    regions = sorted(expected) if all_regions else sorted(touched)
    names = register.get("id2name", {})
    rows = []
    for code in regions:
        exp = expected.get(code, set())
        got = {c for c in received if c.startswith(code)}
        rows.append({
            "level": "province" if len(code) == 2 else "kabkota", "code": code, "name": names.get(code, ""),
            "expected": len(exp), "received": len(got & exp),
            "verified": sum(1 for c in got & exp if received[c]), "unexpected": len(got - exp),
        })
    return rows

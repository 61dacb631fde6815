"""Rules across forms (FORMS.md 13, 14), the reconciliation table and coverage against the register.

- R13 (soft, flags for review): the DPT (A: L, P, L+P) is the same on every form of one TPS.
- R14 (hard): every D.Hasil Kecamatan field equals the sum over its TPS' C.Hasil PPWP forms.
  ``reconcile`` returns the comparison rows (``schemas.reconcile.ReconciliationRow``: which form of a
  TPS is summed is documented there); the rule is attached to the D.Hasil form only for kecamatan
  totals the register shows ``complete`` (every TPS of the kecamatan has a form with a value: a
  partial batch is expected to differ). Without a register the rows are still built.
- ``coverage``: expected (register) vs received vs verified units per province, kab/kota and form type.

These rows are carried in ``BatchResult`` (``with_cross_form_tables``) and written by ``load``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from functools import cache

from schemas.layout import FormType, load_layout
from schemas.reasons import Status
from schemas.reconcile import CoverageRow, ReconciliationRow
from schemas.records import BatchResult, FormRecord, RuleResult
from schemas.register import RegisterSource, load_register
from transform.rules import HARD, SOFT

C_HASIL_PPWP = (FormType.PPWP, FormType.PPWP_SALINAN)
D_HASIL = (FormType.DHASIL_PPWP,)
DPT_FIELDS = ("dpt_l", "dpt_p", "dpt_total")


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

def _rank(f: FormRecord) -> tuple[bool, bool, bool]:
    return (f.status == Status.VERIFIED, f.status != Status.REJECTED, f.form_type == FormType.PPWP)


def pick_ppwp(forms: list[FormRecord]) -> dict[str, FormRecord]:
    """One C.Hasil PPWP form per TPS code, sorted by code: verified before not (a rejected one
    last), then the plano before the Salinan (the same numbers, copied by hand)."""
    best: dict[str, FormRecord] = {}
    for f in forms:
        if f.form_type in C_HASIL_PPWP and len(f.region_code) == 13:
            cur = best.get(f.region_code)
            if cur is None or _rank(f) > _rank(cur):
                best[f.region_code] = f
    return dict(sorted(best.items()))


@cache
def _ppwp_field_ids() -> frozenset[str]:
    return frozenset(fid for ft in C_HASIL_PPWP for fid in load_layout(ft).field_ids())


def _compare(head: dict, fid: str, d_value: int | None, tps: list[FormRecord], tps_fid: str,
             expected: list[str] | None) -> ReconciliationRow:
    values = [(t.values.get(tps_fid), t.status) for t in tps]
    present = [v for v, _ in values if v is not None]
    total = sum(present) if present else None
    diff = d_value - total if d_value is not None and total is not None else None
    missing = len(values) - len(present)
    complete = None if expected is None else set(expected) <= {t.region_code for t in tps} and missing == 0
    return ReconciliationRow(
        **head, field_id=fid, d_hasil_value=d_value, tps_sum=total, tps_forms=len(tps),
        tps_verified=sum(1 for _, s in values if s == Status.VERIFIED), tps_values_missing=missing,
        tps_expected=None if expected is None else len(expected), difference=diff,
        matches=None if diff is None else diff == 0, complete=complete)


def reconcile(forms: list[FormRecord], register: RegisterSource = None) -> list[ReconciliationRow]:
    """Rule 14 as rows: for each D.Hasil form, each of its kecamatan totals the batch's C.Hasil PPWP
    forms also have, and (with a register, which maps attachment rows to desa) each desa row's."""
    reg = load_register(register)
    ppwp_ids = _ppwp_field_ids()
    tps_by_kec: dict[str, list[FormRecord]] = defaultdict(list)
    for code, f in pick_ppwp(forms).items():
        tps_by_kec[code[:6]].append(f)
    rows: list[ReconciliationRow] = []
    d_hasil = sorted((f for f in forms if f.form_type in D_HASIL),
                     key=lambda f: (f.region_code, f.form_type.value))
    for d in d_hasil:
        kec = d.region_code
        head = {"kecamatan_code": kec, "province_code": kec[:2], "kabkota_code": kec[:4],
                "kecamatan_name": reg.name(kec) if reg else None, "d_hasil_status": d.status}
        tps = tps_by_kec.get(kec, [])
        kec_tps = reg.tps_codes(kec) if reg else None
        fids = [fid for fid in load_layout(d.form_type).field_ids() if fid in d.values]
        for fid in fids:
            if fid in ppwp_ids:
                rows.append(_compare(head, fid, d.values[fid], tps, fid, kec_tps))
        if reg is None:
            continue  # desa rows map to desa codes only through the register's row order
        desa = reg.desa_of_kecamatan(kec)
        tps_by_desa: dict[str, list[FormRecord]] = defaultdict(list)
        for t in tps:
            tps_by_desa[t.region_code[:10]].append(t)
        for fid in fids:
            parts = fid.split("_", 2)  # desa_NN_<field>
            if parts[0] != "desa" or len(parts) != 3 or not parts[1].isdigit() or parts[2] not in ppwp_ids:
                continue
            n, d_value = int(parts[1]), d.values[fid]
            if n > len(desa) and d_value is None:
                continue  # an unused row: the kecamatan has fewer desa than the form has rows
            code = desa[n - 1] if 1 <= n <= len(desa) else None
            in_desa = tps_by_desa.get(code, []) if code is not None else []
            rows.append(_compare({**head, "desa_code": code, "desa_row": n}, parts[2], d_value, in_desa,
                                 parts[2], reg.tps_codes(code) if code else None))
    return rows


def recap_issues(rows: list[ReconciliationRow]) -> dict[str, list[RuleResult]]:
    """R14 issues per kecamatan code, from the complete kecamatan-total rows of ``reconcile``."""
    out: dict[str, list[RuleResult]] = {}
    for r in rows:
        if r.desa_row is not None or r.complete is not True or not r.difference:
            continue
        out.setdefault(r.kecamatan_code, []).append(RuleResult(
            rule_id="R14.recap", severity=HARD, fields=[r.field_id], expected=float(r.tps_sum or 0),
            found=float(r.d_hasil_value or 0),
            message_id=f"{r.field_id}: D.Hasil {r.d_hasil_value} berbeda dengan jumlah {r.tps_forms} "
                       f"C.Hasil TPS ({r.tps_sum})",
            message_en=f"{r.field_id}: D.Hasil {r.d_hasil_value} differs from the sum of {r.tps_forms} "
                       f"TPS C.Hasil forms ({r.tps_sum})"))
    return out


def cross_form_issues(forms: list[FormRecord], register: RegisterSource = None
                      ) -> dict[tuple[str, str], list[RuleResult]]:
    out = dpt_consistency(forms)
    recap = recap_issues(reconcile(forms, register))
    for f in forms:
        if f.form_type in D_HASIL and f.region_code[:6] in recap:
            out.setdefault((f.region_code, f.form_type.value), []).extend(recap[f.region_code[:6]])
    return out


# --------------------------------------------------------------------------- coverage

def coverage(forms: list[FormRecord], register: RegisterSource = None,
             all_regions: bool = False) -> list[CoverageRow]:
    """Expected vs received vs verified units per province and kab/kota and form type, sorted by
    (region code, form type). Regions: those the batch touches, and with ``all_regions`` every
    region of the register too."""
    reg = load_register(register)
    got: dict[tuple[str, str], dict[str, FormRecord]] = defaultdict(dict)  # (form type, region) -> unit
    for f in forms:
        for region in (f.region_code[:2], f.region_code[:4]):
            got[(f.form_type.value, region)][f.region_code] = f
    regions = {f.region_code[:2] for f in forms} | {f.region_code[:4] for f in forms}
    if reg is not None and all_regions:
        regions |= {d[:n] for d in reg.tps for n in (2, 4)}
    rows: list[CoverageRow] = []
    for code in sorted(regions):
        kab = len(code) == 4
        for ft in FormType:
            units = got.get((ft.value, code), {})
            d_hasil = ft in D_HASIL
            expected = not_in = None
            if reg is not None:
                known = {c: f for c, f in units.items()
                         if (reg.has_kecamatan(c) if d_hasil else reg.has_tps(c))}
                not_in, units = len(units) - len(known), known
                expected = reg.expected_kecamatan(code) if d_hasil else reg.expected_tps(code)
            statuses = Counter(f.status for f in units.values())
            verified = statuses[Status.VERIFIED]
            rows.append(CoverageRow(
                level="kabkota" if kab else "province", region_code=code, province_code=code[:2],
                kabkota_code=code if kab else None, province_name=reg.name(code[:2]) if reg else None,
                kabkota_name=reg.name(code) if reg and kab else None, form_type=ft,
                unit="kecamatan" if d_hasil else "tps", expected=expected, received=len(units),
                verified=verified, needs_review=statuses[Status.NEEDS_REVIEW], not_in_register=not_in,
                received_share=len(units) / expected if expected else None,
                verified_share=verified / expected if expected else None))
    return rows


def with_cross_form_tables(result: BatchResult, register: RegisterSource = None) -> BatchResult:
    """``result`` with its reconciliation and coverage rows computed from its forms (every region
    of the register in coverage). Call it again whenever the forms change (e.g. after corrections)."""
    reg = load_register(register)
    return result.model_copy(update={"reconciliation": reconcile(result.forms, reg),
                                     "coverage": coverage(result.forms, reg, all_regions=True)})

"""Batch results built in code for the load tests: real field ids from the packaged layouts, no images."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from schemas.layout import FormType, load_layout
from schemas.reasons import Reason, Status
from schemas.records import (
    BatchResult,
    Correction,
    DigitReading,
    FieldReading,
    FileStatus,
    FormRecord,
    PageReading,
    Registration,
    RuleResult,
)
from transform.reconcile import with_cross_form_tables

# Province "01" does not exist (Aceh is 11): it makes sure leading zeros survive every reader.
REGISTER = {
    "id2name": {
        "01": "PROVINSI NOL SATU", "0101": "KAB SATU", "010101": "KEC SATU", "0101010001": "DESA SATU",
        "0101010002": "DESA DUA", "32": "JAWA BARAT", "3273": "KOTA BANDUNG", "327301": "SUKASARI",
        "3273010001": "SARIJADI",
    },
    # 0101010001: 2 regular TPS + special 901; 0101010002: 1 TPS; 3273010001: 3 TPS.
    "tps": {"0101010001": [2, 901, 901], "0101010002": [1], "3273010001": [3]},
}


def layout_exists(ft: FormType) -> bool:
    try:
        load_layout(ft)
        return True
    except FileNotFoundError:
        return False


def ppwp_values(seed: int, form_type: FormType = FormType.PPWP) -> dict[str, int | None]:
    """Consistent PPWP numbers (every hard rule holds), varying with ``seed``."""
    l_, p_ = 100 + seed, 90 + seed
    v1, v2, v3, inv = 30 + seed, 40, 50 + 2 * seed, 3
    valid = v1 + v2 + v3
    total = valid + inv
    vl = total // 2
    vals = {
        "dpt_l": l_, "dpt_p": p_, "dpt_total": l_ + p_,
        "voters_dpt_l": vl, "voters_dpt_p": total - vl, "voters_dpt_total": total,
        "voters_dptb_l": 0, "voters_dptb_p": 0, "voters_dptb_total": 0,
        "voters_dpk_l": 0, "voters_dpk_p": 0, "voters_dpk_total": 0,
        "voters_total_l": vl, "voters_total_p": total - vl, "voters_total_total": total,
        "ballots_received": l_ + p_ + 4, "ballots_used": total, "ballots_damaged": 1,
        "ballots_unused": l_ + p_ + 3 - total,
        "disabled_voters_l": 1, "disabled_voters_p": 0, "disabled_voters_total": 1,
        "votes_1": v1, "votes_2": v2, "votes_3": v3,
        "valid_votes": valid, "invalid_votes": inv, "total_votes": total,
    }
    ids = set(load_layout(form_type).field_ids())
    return {k: v for k, v in vals.items() if k in ids}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def page(ft: FormType, n: int, file: str, conf: float = 0.97) -> PageReading:
    probs = [0.0] * 12
    probs[3] = conf
    probs[8] = 1 - conf
    reading = FieldReading(field_id="x", page=n, value=3, confidence=conf,
                           digits=[DigitReading(probs=probs, top=3)])
    reg = Registration(form_type=ft, page=n, homography=[[1, 0, 0], [0, 1, 0], [0, 0, 1]], rotation=0,
                       reprojection_error=0.4, marks_found=4, method="tag+marks", score=0.95, px_per_unit=2.0)
    return PageReading(file=file, file_sha256=sha(file), page_index=n - 1, registration=reg, fields=[reading])


def form(code: str, ft: FormType = FormType.PPWP, seed: int = 0, status: Status = Status.VERIFIED,
         values: dict | None = None, **kw) -> FormRecord:
    file = f"{code}_{ft.value}.pdf"
    n_pages = len(load_layout(ft).pages)
    return FormRecord(region_code=code, form_type=ft, status=status,
                      values=values if values is not None else ppwp_values(seed, ft),
                      files=[file], pages=[page(ft, i, file) for i in range(1, n_pages + 1)],
                      min_confidence=0.97, **kw)


ROW_COLUMNS = ("votes_1", "votes_2", "votes_3", "valid_votes", "invalid_votes")


def dhasil_values(seeds_desa: dict[int, str]) -> dict[str, int | None]:
    """A D.Hasil that is the exact sum of the true PPWP values of the given TPS seeds; desa rows in
    desa code order, unused rows empty."""
    ids = load_layout(FormType.DHASIL_PPWP).field_ids()
    out: dict[str, int | None] = dict.fromkeys(ids)
    desa_order = sorted(set(seeds_desa.values()))
    for seed, desa in seeds_desa.items():
        for k, v in ppwp_values(seed).items():
            out[k] = (out[k] or 0) + v
            row = f"desa_{desa_order.index(desa) + 1:02d}_{k}"
            if row in out:
                out[row] = (out[row] or 0) + v
    return out


def dpr_values() -> dict[str, int | None]:
    vals = {k: v for k, v in ppwp_values(7).items() if not k.startswith("votes_")}
    vals |= {"party_01_votes": 5, "party_01_cand_1": 10, "party_01_cand_2": 3, "party_01_total": 18,
             "party_02_votes": 2, "party_02_total": 2}
    return vals


def file_status(f: FormRecord) -> FileStatus:
    return FileStatus(file=f.files[0], sha256=sha(f.files[0]), size=1000, status=f.status,
                      region_code=f.region_code, form_type=f.form_type, pages=len(f.pages),
                      reasons=list(f.reasons))


def batch(forms: list[FormRecord], extra_files: list[FileStatus] = (),
          register: dict | None = None) -> BatchResult:
    """A batch result as transform makes it: reconciliation and coverage rows from ``register``."""
    result = BatchResult(forms=forms, files=[file_status(f) for f in forms] + list(extra_files),
                         model_version="digits-test-1", pipeline_version="0.1.0-test")
    return with_cross_form_tables(result, register)


def sample_batch(register: dict | None = REGISTER) -> BatchResult:
    """Two provinces ("01" with leading zero, "32"), plano + copy, a flagged form with an issue and a
    steward correction, a rejected file."""
    bad = ppwp_values(2)
    bad["valid_votes"] += 10
    flagged = form("0101010001002", seed=2, status=Status.NEEDS_REVIEW, values=bad,
                   reasons=[Reason.RULE_BROKEN],
                   issues=[RuleResult(rule_id="R3", severity="hard",
                                      fields=["valid_votes", "votes_1", "votes_2", "votes_3"],
                                      expected=float(bad["valid_votes"] - 10),
                                      found=float(bad["valid_votes"]),
                                      message_id="Suara sah harus sama dengan jumlah suara paslon",
                                      message_en="Valid votes must equal the sum of the candidate votes")],
                   corrections=[Correction(field_id="votes_1", old=82, new=32, by="Budi Santoso",
                                           at="2024-02-20T10:00:00+07:00", reason="steward read the scan"),
                                Correction(field_id="dpt_l", old=None, new=102, by="auto", at="",
                                           reason="unsure digit; arithmetic", boxes_changed=[2],
                                           probability=0.3)])
    forms = [
        form("0101010001001", seed=1),
        flagged,
        form("0101010001901", seed=3),
        form("0101010002001", seed=4),
        form("0101010001001", FormType.PPWP_SALINAN, seed=1),
        form("3273010001001", seed=5),
        form("3273010001002", FormType.PPWP_SALINAN, seed=6),
    ]
    tps_010101 = {1: "0101010001", 2: "0101010001", 3: "0101010001", 4: "0101010002"}  # seed -> desa
    forms.append(form("010101", FormType.DHASIL_PPWP, values=dhasil_values(tps_010101)))
    forms.append(form("3273010001001", FormType.DPR, values=dpr_values()))
    rejected = FileStatus(file="junk/photo.jpg", sha256=sha("junk"), size=10, status=Status.REJECTED,
                          reasons=[Reason.BAD_NAME], detail="no code in name")
    return batch(forms, [rejected], register)


@pytest.fixture
def sample_result() -> BatchResult:
    return sample_batch()


def generated_batch(n_forms: int, seed: int = 5, province: str = "32", review_share: float = 0.16,
                    dhasil: bool = True, edit: Callable[[str, dict], None] | None = None) -> tuple[BatchResult, object]:
    """A release-sized batch built from the generator's own truth, without rendering or reading:
    ``pindai generate``'s TPS plan and numbers (synth.plan_jobs, synth.values) for ``n_forms``
    C.Hasil PPWP forms of the packaged register, about ``review_share`` of them flagged for review
    (one of those in ten with a digit left unread), and a D.Hasil for every kecamatan the batch
    touches (the sum of the generator's numbers). ``edit(tps_code, values)`` changes a TPS's numbers
    in place (injected anomalies). Returns (batch result, register)."""
    import numpy as np

    from schemas.register import mini_register
    from synth import values as synth_values
    from synth.generate import GenerateOptions, plan_jobs

    reg = mini_register()
    jobs = plan_jobs(GenerateOptions(out_dir=".", forms=n_forms, province=province, seed=seed), reg)
    rng = np.random.default_rng(seed)
    forms = []
    for job in jobs:
        vals = dict(synth_values.ppwp_values(seed, job.code))
        if edit is not None:
            edit(job.code, vals)
        status, reasons = Status.VERIFIED, []
        if rng.random() < review_share:
            status, reasons = Status.NEEDS_REVIEW, [Reason.UNSURE_DIGITS]
            if rng.random() < 0.1:
                vals["votes_2"] = None
        forms.append(form(job.code, status=status, values=vals, reasons=reasons))
    if dhasil:
        for kec in sorted({j.code[:6] for j in jobs}):
            desa = reg.desa_of_kecamatan(kec)
            if len(desa) <= synth_values.N_DESA_ROWS:
                desa_tps = {d: reg.tps_codes(d) for d in desa}
                forms.append(form(kec, FormType.DHASIL_PPWP, values=synth_values.dhasil_values(seed, desa_tps)))
    return batch(forms, register=reg), reg

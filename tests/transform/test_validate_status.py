"""Form status: injected officer mistakes are flagged; pages, scans and headers are checked;
rules across forms (R13, R14) and coverage against the register."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from transform_factory import TPS, consistent_ppwp, draft, outcome

from schemas.forms import form_model, validate_values
from schemas.layout import FormType
from schemas.reasons import Reason, Status
from schemas.records import FormRecord
from schemas.register import load_register
from transform.assemble import FormDraft
from transform.reconcile import coverage, cross_form_issues, reconcile
from transform.rules import RULE_CATALOG
from transform.validate import build_result, validate_batch, validate_form

NEIGHBOUR = {  # another TPS of the kecamatan: its page 1 and page 2 numbers
    "dpt_l": 140, "dpt_p": 150, "dpt_total": 290, "voters_dpt_l": 100, "voters_dpt_p": 120,
    "voters_dpt_total": 220, "voters_dptb_l": 1, "voters_dptb_p": 1, "voters_dptb_total": 2,
    "voters_dpk_l": 0, "voters_dpk_p": 1, "voters_dpk_total": 1, "voters_total_l": 101,
    "voters_total_p": 122, "voters_total_total": 223, "ballots_received": 296, "ballots_used": 223,
    "ballots_damaged": 0, "ballots_unused": 73, "disabled_voters_l": 0, "disabled_voters_p": 1,
    "disabled_voters_total": 1, "votes_1": 100, "votes_2": 90, "votes_3": 28,
}
PAGE1 = [k for k in NEIGHBOUR if not k.startswith("votes_")]


def _flags(form: FormRecord) -> set[str]:
    return {i.rule_id for i in form.issues}


def test_clean_form_is_verified_with_no_reason() -> None:
    form = validate_form(draft(consistent_ppwp()))
    assert form.status == Status.VERIFIED and form.reasons == [] and form.issues == []


@pytest.mark.parametrize(("field", "delta"), [("votes_1", 3), ("valid_votes", -2), ("dpt_total", 5),
                                              ("ballots_unused", 1), ("voters_total_p", -4)])
def test_sum_off_by_a_few_is_flagged(field: str, delta: int) -> None:
    v = consistent_ppwp()
    v[field] += delta
    form = validate_form(draft(v))
    assert form.status == Status.NEEDS_REVIEW and Reason.RULE_BROKEN in form.reasons
    assert form.values[field] == v[field]  # as written


@pytest.mark.parametrize(("a", "b"), [("voters_dpt_l", "voters_dpt_p"), ("valid_votes", "invalid_votes"),
                                      ("voters_dptb_total", "voters_dpk_total"), ("votes_1", "valid_votes"),
                                      ("ballots_used", "ballots_damaged"), ("dpt_total", "ballots_received")])
def test_swapped_fields_are_flagged(a: str, b: str) -> None:
    v = consistent_ppwp()
    v[a], v[b] = v[b], v[a]
    form = validate_form(draft(v))
    assert form.status == Status.NEEDS_REVIEW and Reason.RULE_BROKEN in form.reasons


def test_foreign_page_1_is_flagged_even_without_header_text() -> None:
    v = consistent_ppwp() | {k: NEIGHBOUR[k] for k in PAGE1}  # B.4 = 223, V.C = 194
    form = validate_form(draft(v))
    assert form.status == Status.NEEDS_REVIEW
    assert "R5S.gap" in _flags(form) and Reason.RULE_BROKEN in form.reasons


def test_foreign_page_2_breaks_the_vote_sum() -> None:
    v = consistent_ppwp() | {k: NEIGHBOUR[k] for k in ("votes_1", "votes_2", "votes_3")}
    form = validate_form(draft(v))
    assert "R3" in _flags(form) and form.status == Status.NEEDS_REVIEW


def test_header_naming_another_tps_is_identity_mismatch() -> None:
    header = {2: {"tps_number": "007", "desa": "CIBEUNYING"}}
    form = validate_form(draft(consistent_ppwp(), header=header))
    assert Reason.IDENTITY_MISMATCH in form.reasons and "ID.tps_number" in _flags(form)
    assert form.status == Status.NEEDS_REVIEW
    names = {"3273010001": "SUKAMAJU", "327301": "SUKASARI"}
    ok = validate_form(draft(consistent_ppwp(), header={1: {"tps_number": "004", "desa": "Kel. Sukamaju"}}),
                       id2name=names)
    assert ok.status == Status.VERIFIED
    bad = validate_form(draft(consistent_ppwp(), header={1: {"desa": "CIPAGANTI"}}), id2name=names)
    assert "ID.desa" in _flags(bad)
    # A reading shorter than the zero-padded code is a dropped digit more often than another TPS.
    short = validate_form(draft(consistent_ppwp(), header={2: {"tps_number": "07"}}))
    assert "ID.tps_number" not in _flags(short) and short.status == Status.VERIFIED
    every_page = {p: {"tps_number": "007"} for p in (1, 2, 3)}
    assert validate_form(draft(consistent_ppwp(), header=every_page)).status == Status.REJECTED


def test_missing_page_and_disagreeing_scans() -> None:
    form = validate_form(draft(consistent_ppwp(), drop_pages=(3,)))
    assert form.reasons == [Reason.MISSING_PAGE] and form.status == Status.NEEDS_REVIEW
    assert not any(i.rule_id == "R10" for i in form.issues)  # explained by the missing page
    d = draft(consistent_ppwp())
    other = draft(consistent_ppwp() | {"votes_1": 81}, file="rescan.png")
    d.add(other.pages[2][0])
    form = validate_form(d)
    assert Reason.DUPLICATE_PAGE_CONFLICT in form.reasons and "R12" in _flags(form)
    unsure_rescan = draft(consistent_ppwp() | {"votes_1": 30}, file="rescan.png",
                          unsure={"votes_1": {1: {"3": 0.5, "8": 0.45}}})
    d = draft(consistent_ppwp())
    d.add(unsure_rescan.pages[2][0])
    assert validate_form(d).status == Status.VERIFIED  # the confident scan is read; no conflict


def test_bubbles_disagreeing_with_confident_digits() -> None:
    form = validate_form(draft(consistent_ppwp(), bubbles={"votes_2": 76, "votes_1": 80}))
    assert Reason.BUBBLES_DISAGREE in form.reasons and "R11.bubbles" in _flags(form)
    assert form.values["votes_2"] == 70


def test_unclear_bubbles_that_differ_from_the_digits_are_a_doubt() -> None:
    d = draft(consistent_ppwp(), bubbles={"votes_2": 928})  # an 8 blackened under a written 3, a blur elsewhere
    d.pages[2][0].fields[1].bubble_confident = False
    form = validate_form(d)
    assert form.status == Status.NEEDS_REVIEW and "R11.unclear" in _flags(form)
    assert Reason.BUBBLES_DISAGREE in form.reasons
    d = draft(consistent_ppwp(), bubbles={"votes_2": 70})  # unclear but agreeing: no doubt
    d.pages[2][0].fields[1].bubble_confident = False
    assert validate_form(d).status == Status.VERIFIED


def test_dpt_differing_across_forms_of_a_tps_is_r13() -> None:
    v = consistent_ppwp()
    outs = [outcome(v, FormType.PPWP), outcome(v | {k: NEIGHBOUR[k] for k in PAGE1}, FormType.PPWP_SALINAN)]
    forms, files = validate_batch(outs)
    by = {f.form_type: f for f in forms}
    assert "R13" in _flags(by[FormType.PPWP_SALINAN]) and "R13" in _flags(by[FormType.PPWP])
    assert all(f.status == Status.NEEDS_REVIEW for f in forms)
    assert {s.status for s in files} == {Status.NEEDS_REVIEW}


def _record(code: str, ft: FormType, values: dict, status: Status = Status.VERIFIED) -> FormRecord:
    return FormRecord(region_code=code, form_type=ft, status=status, values=values)


def test_reconcile_rows_and_r14_with_a_complete_register() -> None:
    kec = "327301"
    tps = {f"{kec}0001001": 100, f"{kec}0001002": 50, f"{kec}0002001": 30}
    forms = [_record(c, FormType.PPWP, {"votes_1": n, "valid_votes": n + 1}) for c, n in tps.items()]
    forms.append(_record(f"{kec}0002001", FormType.PPWP_SALINAN, {"votes_1": 999, "valid_votes": 999},
                         Status.NEEDS_REVIEW))  # the plano (verified) is used, not this copy
    forms.append(_record(kec, FormType.DHASIL_PPWP, {"votes_1": 185, "valid_votes": 183, "desa_01_votes_1": 150}))
    rows = {r.field_id: r for r in reconcile(forms)}
    assert set(rows) == {"votes_1", "valid_votes"}
    assert rows["votes_1"].model_dump(include={
        "kecamatan_code", "field_id", "d_hasil_value", "tps_sum", "tps_forms", "tps_verified", "tps_expected",
        "complete", "difference"}) == {
        "kecamatan_code": kec, "field_id": "votes_1", "d_hasil_value": 185, "tps_sum": 180, "tps_forms": 3,
        "tps_verified": 3, "tps_expected": None, "complete": None, "difference": 5}
    assert rows["valid_votes"].difference == 0
    assert cross_form_issues(forms) == {}  # completeness unknown: no R14 issue
    register = {"id2name": {}, "tps": {f"{kec}0001": [2], f"{kec}0002": [1]}}
    issues = cross_form_issues(forms, register)[(kec, "dhasil-ppwp")]
    assert [(i.rule_id, i.fields, i.expected, i.found) for i in issues] == [("R14.recap", ["votes_1"], 180, 185)]
    register["tps"][f"{kec}0002"] = [2]  # one TPS missing from the batch: incomplete, no issue
    assert reconcile(forms, register)[0].complete is False and cross_form_issues(forms, register) == {}


def test_coverage_counts_against_the_register() -> None:
    assert load_register({"id2name": {}, "tps": {"3273010001": [2, 901, 902]}}).tps_codes("3273010001") == [
        "3273010001001", "3273010001002", "3273010001901", "3273010001902"]
    register = {"id2name": {"32": "JAWA BARAT", "3273": "KOTA BANDUNG", "3204": "KAB. BANDUNG"},
                "tps": {"3273010001": [2, 901, 901], "3273010002": [3], "3204010001": [4]}}
    forms = [_record("3273010001001", FormType.PPWP, {}),
             _record("3273010001901", FormType.PPWP_SALINAN, {}, Status.NEEDS_REVIEW),
             _record("3273010001901", FormType.PPWP, {}, Status.VERIFIED),
             _record("3273010002003", FormType.PPWP, {}, Status.NEEDS_REVIEW),
             _record("3273010002009", FormType.PPWP, {}),  # not in the register
             _record("327301", FormType.DHASIL_PPWP, {})]
    rows = {r.region_code: r for r in coverage(forms, register) if r.form_type == FormType.PPWP}
    assert rows["3273"].model_dump(include={"level", "region_code", "kabkota_name", "expected", "received",
                                            "verified", "not_in_register"}) == {
        "level": "kabkota", "region_code": "3273", "kabkota_name": "KOTA BANDUNG", "expected": 6,
        "received": 3, "verified": 2, "not_in_register": 1}
    assert rows["32"].expected == 10 and rows["32"].received == 3 and rows["32"].level == "province"
    assert "3204" not in rows
    assert "3204" in {r.region_code for r in coverage(forms, register, all_regions=True)}


def test_build_result_carries_reconciliation_and_coverage() -> None:
    register = {"id2name": {"32": "JAWA BARAT"}, "tps": {TPS[:10]: [4], "3273010002": [1]}}
    result = build_result([outcome(consistent_ppwp())], "m", "p", register=register)
    cov = {(r.region_code, r.form_type): r for r in result.coverage}
    got = cov[("32", FormType.PPWP)].model_dump(include={"expected", "received", "verified", "province_name"})
    assert got == {"expected": 5, "received": 1, "verified": 1, "province_name": "JAWA BARAT"}
    assert result.reconciliation == []  # no D.Hasil in the batch
    assert build_result([outcome(consistent_ppwp())], "m", "p").coverage[0].expected is None


def test_form_models_and_rule_catalogue() -> None:
    model = form_model("ppwp")
    assert "votes_1" in model.model_fields and model is form_model(FormType.PPWP)
    assert validate_values("ppwp", {"votes_1": 5}).votes_1 == 5  # type: ignore[attr-defined]
    for bad in ({"votes_1": 1000}, {"votes_1": -1}, {"votes_9": 1}):
        with pytest.raises(ValidationError):
            validate_values("ppwp", bad)
    assert sorted(RULE_CATALOG) == list(range(1, 16))
    assert all(d.text_id and d.text_en for d in RULE_CATALOG.values())


def test_blank_form_is_rejected() -> None:
    d = draft({})
    assert validate_form(d).status == Status.REJECTED
    assert isinstance(d, FormDraft) and d.region_code == TPS

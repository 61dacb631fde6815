"""Arithmetic-aware decoding: corrections only where the reader was unsure, and only when unique."""

from __future__ import annotations

import time

from transform_factory import consistent_ppwp, draft, reading

from schemas.reasons import Reason, Status
from transform.decode_arith import ArithSettings, field_candidates
from transform.validate import ValidationSettings, validate_form

AMBIGUOUS_3_8 = {"8": 0.55, "3": 0.42}


def test_candidates_change_only_unsure_boxes() -> None:
    r = reading("votes_2", 83, boxes={1: AMBIGUOUS_3_8})  # written "_83": box 1 unsure between 8 and 3
    assert r.unsure and r.value == 83
    cands = field_candidates(r, ArithSettings())
    assert {c.value for c in cands} == {83, 33}
    assert all(c.changed in ((), (1,)) for c in cands)


def test_unsure_digit_settled_by_a_sum_is_auto_corrected() -> None:
    v = consistent_ppwp()  # votes_2 is 70; the reader sees "_?0" unsure between 7 and 2
    form = validate_form(draft(v, unsure={"votes_2": {1: {"2": 0.6, "7": 0.38}}}))
    assert form.values["votes_2"] == 70
    (c,) = form.corrections
    assert (c.field_id, c.old, c.new, c.by, c.boxes_changed) == ("votes_2", 20, 70, "auto", [1])
    assert "box 2: 2 (p=0.60) -> 7 (p=0.38)" in c.reason
    assert c.box_probability == 0.38
    assert form.reasons == [Reason.AUTO_CORRECTED]  # distinguishable from a form read cleanly
    assert form.status == Status.VERIFIED  # the new digit was a strong runner-up (p 0.38)
    strict = validate_form(draft(v, unsure={"votes_2": {1: {"2": 0.6, "7": 0.38}}}),
                           settings=ValidationSettings(auto_verify_min_p=None))
    assert strict.status == Status.NEEDS_REVIEW and strict.reasons == [Reason.AUTO_CORRECTED]


# The default floor (0.1: see ValidationSettings), spelled out so the tests below show what happens
# to a change beneath it whatever the default.
FLOOR_0_1 = ValidationSettings(auto_verify_min_p=0.1)


def test_long_shot_correction_waits_for_a_steward_below_the_floor() -> None:
    v = consistent_ppwp()  # the rules want 7 in box 2, which the reader gave only p 0.05
    read = {"votes_2": {1: {"2": 0.8, "7": 0.05}}}
    form = validate_form(draft(v, unsure=read), settings=FLOOR_0_1)
    assert form.values["votes_2"] == 70
    (c,) = form.corrections
    assert c.box_probability == 0.05
    assert form.status == Status.NEEDS_REVIEW and form.reasons == [Reason.AUTO_CORRECTED]
    # the default floor is 0.1: at the arithmetic's candidate floor (0.02) a fresh stress batch
    # absorbed two officer slips (docs/VERIFICATION_POLICY.md)
    assert ValidationSettings().auto_verify_min_p == 0.1
    assert validate_form(draft(v, unsure=read)).status == Status.NEEDS_REVIEW
    # a floor at the candidate floor would trust it on a form whose soft rules all hold, marked corrected
    lax = validate_form(draft(v, unsure=read), settings=ValidationSettings(auto_verify_min_p=ArithSettings().box_floor))
    assert lax.status == Status.VERIFIED and lax.reasons == [Reason.AUTO_CORRECTED]


def test_long_shot_pinned_by_two_equations_is_verified() -> None:
    v = consistent_ppwp()  # B.4 total 194 is in its row (L + P) and its column (B.1 + B.2 + B.3)
    assert v["voters_total_total"] == 194
    form = validate_form(draft(v, unsure={"voters_total_total": {2: {"1": 0.85, "4": 0.05}}}))
    assert form.values["voters_total_total"] == 194
    (c,) = form.corrections
    assert (c.old, c.new, c.box_probability) == (191, 194, 0.05)
    assert form.reasons == [Reason.AUTO_CORRECTED]
    assert form.status == Status.VERIFIED  # both equations imply 194 on their own
    off = validate_form(draft(v, unsure={"voters_total_total": {2: {"1": 0.85, "4": 0.05}}}),
                        settings=ValidationSettings(auto_verify_min_p=0.1, auto_verify_redundant=False))
    assert off.status == Status.NEEDS_REVIEW


def test_pinned_long_shot_below_the_pinned_floor_waits() -> None:
    # A fresh stress batch (seed 921): B.4 L written "99" where the sums want 93 (an officer's slip),
    # its last 9 read at p 0.93 with 3 at p 0.03. Both equations imply 93, so the slip was absorbed
    # and the form verified with a number the paper does not say. Below p 0.05 a steward decides
    # (where the one-equation floor does not already trust the change: the reader with test-time
    # shifts reads that 9 at p 0.97 and the 3 at 0.01, below every floor).
    v = consistent_ppwp()
    read = {"voters_total_total": {2: {"1": 0.85, "4": 0.03}}}
    form = validate_form(draft(v, unsure=read), settings=FLOOR_0_1)
    assert form.values["voters_total_total"] == 194  # still proposed, recorded as a correction
    assert form.status == Status.NEEDS_REVIEW and form.reasons == [Reason.AUTO_CORRECTED]
    old = validate_form(draft(v, unsure=read),
                        settings=ValidationSettings(auto_verify_min_p=0.1, auto_verify_pinned_min_p=None))
    assert old.status == Status.VERIFIED


def test_two_long_shots_in_one_row_are_pinned_by_their_columns() -> None:
    # B.1 L and P both misread: the row (L + P = total) has two unknowns, but each column
    # (B.4 = B.1 + B.2 + B.3) pins one, and the row still checks them: redundant, verified.
    v = consistent_ppwp()
    assert (v["voters_dpt_l"], v["voters_dpt_p"]) == (90, 100)
    form = validate_form(draft(v, unsure={"voters_dpt_l": {1: {"6": 0.85, "9": 0.05}},
                                          "voters_dpt_p": {2: {"8": 0.85, "0": 0.05}}}))
    assert (form.values["voters_dpt_l"], form.values["voters_dpt_p"]) == (90, 100)
    assert {c.field_id for c in form.corrections if c.old != c.new} == {"voters_dpt_l", "voters_dpt_p"}
    assert form.status == Status.VERIFIED and form.reasons == [Reason.AUTO_CORRECTED]


def test_one_equation_correction_waits_on_a_form_that_breaks_a_soft_rule() -> None:
    # II.4 read "80" with the "6" a strong runner-up (p 0.3): R6 alone settles it at 60. On a clean
    # form that is trusted; where a soft rule is broken (R5S: II.2 differs from B.4 and V.C) the same
    # change could be an officer's slip absorbed, so a steward confirms it.
    v = consistent_ppwp()
    read = {"ballots_unused": {1: {"8": 0.6, "6": 0.3}}}
    clean = validate_form(draft(v, unsure=read))
    assert clean.values["ballots_unused"] == 60 and clean.status == Status.VERIFIED
    v["ballots_used"], v["ballots_unused"] = 193, 61  # R6 still holds: 255 = 193 + 1 + 61
    read = {"ballots_unused": {1: {"8": 0.6, "6": 0.3}}}
    doubtful = validate_form(draft(v, unsure=read))
    assert doubtful.values["ballots_unused"] == 61
    assert "R5S" in {i.rule_id for i in doubtful.issues}
    assert doubtful.status == Status.NEEDS_REVIEW and Reason.AUTO_CORRECTED in doubtful.reasons
    lax = validate_form(draft(v, unsure=read), settings=ValidationSettings(auto_verify_clean_context=False))
    assert lax.status == Status.VERIFIED


def test_long_shot_in_one_equation_waits_even_beside_a_pinned_one() -> None:
    # ballots_unused is in R6 only: its long shot is not trusted, whatever else on the form is.
    v = consistent_ppwp()
    form = validate_form(draft(v, unsure={"voters_total_total": {2: {"1": 0.85, "4": 0.05}},
                                          "ballots_unused": {1: {"8": 0.85, "6": 0.05}}}), settings=FLOOR_0_1)
    assert form.values["voters_total_total"] == 194 and form.values["ballots_unused"] == 60
    assert {c.field_id for c in form.corrections} == {"voters_total_total", "ballots_unused"}
    assert form.status == Status.NEEDS_REVIEW and form.reasons == [Reason.AUTO_CORRECTED]


def test_confident_reading_breaking_a_rule_stays_as_read() -> None:
    v = consistent_ppwp()
    v["votes_2"] = 20  # the officer (or a confident misreading): 20 instead of 70
    form = validate_form(draft(v))
    assert form.values["votes_2"] == 20
    assert form.corrections == [] and form.suggestions == []
    assert form.status == Status.NEEDS_REVIEW
    assert Reason.RULE_BROKEN in form.reasons
    assert "R3" in {i.rule_id for i in form.issues}


def test_no_correction_when_the_needed_change_is_in_a_confident_box() -> None:
    v = consistent_ppwp()
    v["votes_2"] = 20  # confident 2 in box 1 should be 7; box 2 (the 0) is unsure between 0 and 6
    form = validate_form(draft(v, unsure={"votes_2": {2: {"0": 0.6, "6": 0.39}}}))
    assert form.values["votes_2"] == 20
    assert not [c for c in form.corrections if c.old != c.new]
    assert form.status == Status.NEEDS_REVIEW
    assert {Reason.UNSURE_DIGITS, Reason.RULE_BROKEN} <= set(form.reasons)


def test_ambiguous_solutions_are_suggested_not_applied() -> None:
    v = consistent_ppwp()  # votes_1 = 80, votes_2 = 70; both unsure in their tens, only R3 couples them
    v["votes_1"], v["votes_2"] = 80, 70
    unsure = {"votes_1": {1: {"8": 0.5, "9": 0.45}}, "votes_2": {1: {"7": 0.5, "6": 0.45}}}
    form = validate_form(draft(v, unsure=unsure))  # 80+70 and 90+60 both give 150
    assert [c for c in form.corrections if c.by == "auto"] == []
    assert form.values["votes_1"] == 80 and form.values["votes_2"] == 70
    assert Reason.UNSURE_DIGITS in form.reasons and form.status == Status.NEEDS_REVIEW


def test_suggestion_when_reading_breaks_and_several_fixes_exist() -> None:
    v = consistent_ppwp()
    unsure = {"votes_1": {1: {"3": 0.5, "8": 0.3, "9": 0.15}}, "votes_2": {1: {"7": 0.5, "6": 0.45}}}
    form = validate_form(draft(v, unsure=unsure))  # read 30 + 70 breaks; 80+70 and 90+60 both fit
    assert form.values["votes_1"] == 30 and Reason.RULE_BROKEN in form.reasons
    sug = {s.field_id: s for s in form.suggestions}
    assert sug["votes_1"].new == 80 and sug["votes_1"].solutions == 2
    assert sug["votes_1"].boxes_changed == [1] and "R3" in sug["votes_1"].rules


def test_two_unsure_fields_in_chained_rules_resolve_uniquely() -> None:
    v = consistent_ppwp()  # valid_votes 189 and total_votes 194: both unsure; R3 then R4 pin them
    unsure = {"valid_votes": {2: {"4": 0.5, "9": 0.45}}, "total_votes": {2: {"9": 0.5, "4": 0.45}}}
    form = validate_form(draft(v, unsure=unsure))
    assert (form.values["valid_votes"], form.values["total_votes"]) == (189, 194)
    changed = {c.field_id: (c.old, c.new) for c in form.corrections}
    assert changed["valid_votes"] == (184, 189)
    assert changed["total_votes"] == (199, 194)
    assert form.status == Status.VERIFIED  # both new digits were strong runners-up (p 0.45)
    assert form.reasons == [Reason.AUTO_CORRECTED]


def test_unsure_reading_confirmed_by_arithmetic() -> None:
    v = consistent_ppwp()
    form = validate_form(draft(v, unsure={"votes_3": {2: {"9": 0.6, "4": 0.35}}}))
    (c,) = form.corrections
    assert c.old == c.new == 39 and c.reason.startswith("confirmed")
    assert form.status == Status.VERIFIED and form.reasons == [Reason.AUTO_CONFIRMED]


def test_search_is_cheap_with_many_unsure_fields() -> None:
    v = consistent_ppwp()
    noisy = {"9": 0.3, "4": 0.25, "1": 0.2, "7": 0.15}
    unsure = {f: {0: noisy, 1: noisy, 2: noisy} for f in v}
    d = draft(v, unsure=unsure)
    t = time.perf_counter()
    form = validate_form(d)
    assert time.perf_counter() - t < 5.0
    assert form.status == Status.NEEDS_REVIEW


def test_bubbles_give_the_digit_the_reader_ruled_out() -> None:
    """The reader reads "2" (p 0.89, unsure) and gives the written 7 p 0.01 (below the candidate
    floor): alone, the arithmetic has nothing to find; with the blackened bubbles reading 70, the
    bubbles' digit joins the candidates, and a correction both readings agree on is verified."""
    v = consistent_ppwp()  # votes_2 is 70
    unsure = {"votes_2": {1: {"2": 0.89}}}
    alone = validate_form(draft(v, unsure=unsure))
    assert alone.values["votes_2"] == 20 and alone.status == Status.NEEDS_REVIEW
    both = validate_form(draft(v, unsure=unsure, bubbles={"votes_2": 70}))
    assert both.values["votes_2"] == 70
    (c,) = both.corrections
    assert c.box_probability is not None and c.box_probability < 0.02
    assert "the blackened bubbles read the same" in c.reason
    assert both.reasons == [Reason.AUTO_CORRECTED] and both.status == Status.VERIFIED


def test_bubbles_do_not_override_a_reading_the_rules_accept() -> None:
    """Blackened bubbles that disagree with a number the arithmetic accepts are the paper
    disagreeing with itself: flagged, the written number kept."""
    v = consistent_ppwp()
    form = validate_form(draft(v, unsure={"votes_2": {1: {"7": 0.9}}}, bubbles={"votes_2": 20}))
    assert form.values["votes_2"] == 70
    assert Reason.BUBBLES_DISAGREE in form.reasons and form.status == Status.NEEDS_REVIEW


def test_candidates_include_the_bubble_reading() -> None:
    r = reading("votes_2", 70, n=3, boxes={0: {"_": 0.9999}, 1: {"2": 0.89}})
    settings = ArithSettings()
    assert 70 not in {c.value for c in field_candidates(r, settings)}
    assert 70 in {c.value for c in field_candidates(r, settings, also=70)}
    # only unsure boxes change: the first box is sure it is empty
    assert 170 not in {c.value for c in field_candidates(r, settings, also=170)}


def test_a_misreading_that_compensates_an_officer_mistake_is_not_verified() -> None:
    """Found by a stress batch (2,000 scans, half with officer mistakes): II.1 written 253 for 255,
    and II.2's "194" read 192 at p 0.58. R6 (II.1 = II.2 + II.3 + II.4) holds with 192, so the hard
    rules alone "confirm" it; but 194 would meet R5S (V.C = B.4 = II.2), which 192 breaks."""
    v = consistent_ppwp() | {"ballots_received": 253}
    form = validate_form(draft(v, unsure={"ballots_used": {2: {"2": 0.58, "4": 0.40}}}))
    assert form.values["ballots_used"] == 192
    assert "R5S" in {i.rule_id for i in form.issues}
    assert Reason.UNSURE_DIGITS in form.reasons and form.status == Status.NEEDS_REVIEW
    # read the right way, the same paper is flagged by R6 (the officer's mistake), never verified
    right = validate_form(draft(v, unsure={"ballots_used": {2: {"4": 0.58, "2": 0.40}}}))
    assert right.status == Status.NEEDS_REVIEW
    # and a clean form with the same doubtful box is still confirmed by the arithmetic and verified
    clean = validate_form(draft(consistent_ppwp(), unsure={"ballots_used": {2: {"4": 0.58, "2": 0.40}}}))
    assert clean.status == Status.VERIFIED and clean.reasons == [Reason.AUTO_CONFIRMED]

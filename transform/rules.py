"""The form's own arithmetic (FORMS.md rules 1-11 and 15) as named rules.

A rule has a stable id (``R<n>`` from FORMS.md, with a suffix where one rule has several checks),
a severity, the fields it involves, a ``kind`` ("sum": ``fields[0] == sum(fields[1:])``, "le",
"other": the arithmetic decoder solves "sum" rules equation by equation) and messages in
Indonesian and English. A rule whose fields are not all on a form type does not apply to it; a
rule with a missing value is not evaluated (R10 reports the missing value). Fields that may
legitimately stay empty (unused D.Hasil desa rows, DPR candidate rows a party does not fill) count
as 0 in sums and are not reported by R10.

Rules over readings rather than values (R11 bubbles, R12 repeated scans) are ``bubble_results``
and ``scan_agreement_results`` here; cross-form rules (R13, R14) live in ``transform.reconcile``.
``RULE_CATALOG`` describes every FORMS.md rule 1-15 (for the review page and the docs).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from schemas.records import CLASS_BLANK, CLASS_NODIGIT, CROSS_CHECK_MIN_P, FieldReading, RuleResult

Values = dict[str, int | None]
HARD, SOFT = "hard", "soft"
LPT = ("l", "p", "total")
GENDERED_ROWS = {  # FORMS.md rule 1: L + P = L+P
    "dpt": "A (DPT)", "voters_dpt": "B.1", "voters_dptb": "B.2", "voters_dpk": "B.3",
    "voters_total": "B.4", "disabled_voters": "III",
}


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    fields: tuple[str, ...]
    # Returns (expected, found) when the rule is broken, None when it holds.
    check: Callable[[dict[str, int]], tuple[float, float] | None]
    message_id: str
    message_en: str
    kind: str = "other"  # "sum" (fields[0] = sum of the rest) | "le" | "other"

    def applies_to(self, field_ids: Iterable[str]) -> bool:
        have = set(field_ids)
        return all(f in have for f in self.fields)


def _sum_rule(rid: str, total: str, parts: tuple[str, ...], sev: str, label_id: str, label_en: str) -> Rule:
    def check(v: dict[str, int]) -> tuple[float, float] | None:
        expected = sum(v[p] for p in parts)
        return None if v[total] == expected else (expected, v[total])

    return Rule(rid, sev, (total, *parts), check, label_id, label_en, kind="sum")


def _le_rule(rid: str, small: str, big: str, sev: str, label_id: str, label_en: str,
             factor: float = 1.0) -> Rule:
    def check(v: dict[str, int]) -> tuple[float, float] | None:
        limit = v[big] * factor
        return None if v[small] <= limit else (limit, v[small])

    return Rule(rid, sev, (small, big), check, label_id, label_en, kind="le")


def _ppwp_rules() -> list[Rule]:
    rules: list[Rule] = []
    for row, label in GENDERED_ROWS.items():
        rules.append(_sum_rule(f"R1.{row}", f"{row}_total", (f"{row}_l", f"{row}_p"), HARD,
                               f"{label}: L + P harus sama dengan jumlah (L+P)",
                               f"{label}: men + women must equal the total"))
    for g in LPT:
        rules.append(_sum_rule(f"R2.{g}", f"voters_total_{g}",
                               (f"voters_dpt_{g}", f"voters_dptb_{g}", f"voters_dpk_{g}"), HARD,
                               f"B.4 ({g.upper()}) harus sama dengan B.1 + B.2 + B.3",
                               f"B.4 ({g}) must equal B.1 + B.2 + B.3"))
    rules.append(_sum_rule("R3", "valid_votes", ("votes_1", "votes_2", "votes_3"), HARD,
                           "Suara sah (V.A) harus sama dengan jumlah suara pasangan calon (IV)",
                           "Valid votes (V.A) must equal the sum of the candidate votes (IV)"))
    rules.append(_sum_rule("R4", "total_votes", ("valid_votes", "invalid_votes"), HARD,
                           "Jumlah suara (V.C) harus sama dengan V.A + V.B",
                           "Total votes (V.C) must equal V.A + V.B"))
    rules.append(_le_rule("R5", "total_votes", "voters_total_total", HARD,
                          "Jumlah suara (V.C) tidak boleh melebihi jumlah pengguna hak pilih (B.4)",
                          "Total votes (V.C) cannot exceed the number of voters who voted (B.4)"))

    def r5s(v: dict[str, int]) -> tuple[float, float] | None:
        if v["total_votes"] == v["voters_total_total"] == v["ballots_used"]:
            return None
        return (v["voters_total_total"], v["total_votes"])

    rules.append(Rule("R5S", SOFT, ("total_votes", "voters_total_total", "ballots_used"), r5s,
                      "V.C, B.4 dan II.2 seharusnya sama; selisih memerlukan berita acara kejadian khusus",
                      "V.C, B.4 and II.2 should be equal; a difference needs an incident report"))

    def r5gap(v: dict[str, int]) -> tuple[float, float] | None:
        # A difference of a ballot or two is an incident; tens of ballots between page 1 (B.4, II.2)
        # and the last page (V.C) is what a page of another TPS looks like: flagged for review.
        b4 = v["voters_total_total"]
        tol = max(2, math.ceil(0.01 * b4))
        worst = max((abs(v["total_votes"] - b4), abs(b4 - v["ballots_used"])))
        return None if worst <= tol else (b4, v["total_votes"] if abs(v["total_votes"] - b4) > tol
                                          else v["ballots_used"])

    rules.append(Rule("R5S.gap", SOFT, ("total_votes", "voters_total_total", "ballots_used"), r5gap,
                      "Selisih besar antara V.C, B.4 dan II.2 (halaman dari TPS lain?)",
                      "Large difference between V.C, B.4 and II.2 (a page of another TPS?)"))
    rules.append(_sum_rule("R6", "ballots_received", ("ballots_used", "ballots_damaged", "ballots_unused"),
                           HARD, "Surat suara diterima (II.1) harus sama dengan II.2 + II.3 + II.4",
                           "Ballots received (II.1) must equal II.2 + II.3 + II.4"))

    def r7a(v: dict[str, int]) -> tuple[float, float] | None:
        expected = math.ceil(v["dpt_total"] * 1.02)
        return None if abs(v["ballots_received"] - expected) <= 2 else (expected, v["ballots_received"])

    rules.append(Rule("R7.reserve", SOFT, ("ballots_received", "dpt_total"), r7a,
                      "Surat suara diterima (II.1) seharusnya DPT + 2% cadangan",
                      "Ballots received (II.1) should be DPT plus the 2% reserve"))

    def r7b(v: dict[str, int]) -> tuple[float, float] | None:
        reserve = v["ballots_received"] - v["dpt_total"]
        used = v["voters_dptb_total"] + v["voters_dpk_total"] + v["ballots_damaged"]
        return None if used <= reserve else (reserve, used)

    rules.append(Rule("R7.within", SOFT, ("ballots_received", "dpt_total", "voters_dptb_total",
                                          "voters_dpk_total", "ballots_damaged"), r7b,
                      "B.2 + B.3 + II.3 seharusnya muat dalam cadangan 2%",
                      "B.2 + B.3 + II.3 should fit within the 2% reserve"))
    for g in LPT:
        rules.append(_le_rule(f"R8.{g}", f"voters_dpt_{g}", f"dpt_{g}", HARD,
                              f"B.1 ({g.upper()}) tidak boleh melebihi DPT (A)",
                              f"B.1 ({g}) cannot exceed the registered voters (A)"))
    rules.append(_le_rule("R8S.turnout", "total_votes", "dpt_total", SOFT,
                          "Jumlah suara melebihi 102% DPT", "Total votes exceed 102% of the DPT", 1.02))
    rules.append(_le_rule("R8S.ballots", "voters_total_total", "ballots_received", SOFT,
                          "Pengguna hak pilih (B.4) melebihi surat suara diterima (II.1)",
                          "Voters (B.4) exceed the ballots received (II.1)"))
    for g in ("l", "p"):
        rules.append(_le_rule(f"R9.{g}", f"disabled_voters_{g}", f"voters_total_{g}", HARD,
                              f"Pemilih disabilitas ({g.upper()}) tidak boleh melebihi B.4",
                              f"Voters with disabilities ({g}) cannot exceed B.4"))
    return rules


def _dpr_rules(parties: int = 18, candidates: int = 8) -> list[Rule]:
    rules: list[Rule] = []
    for n in range(1, parties + 1):
        nn = f"{n:02d}"
        parts = (f"party_{nn}_votes", *(f"party_{nn}_cand_{c}" for c in range(1, candidates + 1)))
        rules.append(_sum_rule(f"R15.party_{nn}", f"party_{nn}_total", parts, HARD,
                               f"Partai {nn}: suara partai + suara calon harus sama dengan jumlah partai",
                               f"Party {nn}: party-only plus candidate votes must equal the party total"))
    totals = tuple(f"party_{n:02d}_total" for n in range(1, parties + 1))
    rules.append(_sum_rule("R15.valid", "valid_votes", totals, HARD,
                           "Suara sah (V.A) harus sama dengan jumlah suara semua partai",
                           "Valid votes (V.A) must equal the sum of the party totals"))
    return rules


def _dhasil_rules(rows: int = 30) -> list[Rule]:
    rules: list[Rule] = []
    for n in range(1, rows + 1):
        nn = f"{n:02d}"
        rules.append(_sum_rule(f"R14.row_{nn}", f"desa_{nn}_valid_votes",
                               tuple(f"desa_{nn}_votes_{k}" for k in (1, 2, 3)), HARD,
                               f"Baris desa {nn}: suara sah harus sama dengan jumlah suara paslon",
                               f"Desa row {nn}: valid votes must equal the sum of the candidate votes"))
    return rules


ALL_RULES: tuple[Rule, ...] = (*_ppwp_rules(), *_dpr_rules(), *_dhasil_rules())


def dhasil_column_rules(field_ids: Iterable[str]) -> list[Rule]:
    """D.Hasil: the kecamatan totals equal the sum of the desa rows (unused rows count as 0)."""
    ids = set(field_ids)
    rules = []
    for col in ("votes_1", "votes_2", "votes_3", "valid_votes", "invalid_votes"):
        rows = tuple(sorted(f for f in ids if f.startswith("desa_") and f.endswith(f"_{col}")))
        if not rows or col not in ids:
            continue
        rules.append(_sum_rule(f"R14.col_{col}", col, rows, HARD,
                               f"Jumlah kecamatan {col} harus sama dengan jumlah baris desa",
                               f"The kecamatan {col} must equal the sum of the desa rows"))
    return rules


_DPR_CANDIDATE = re.compile(r"^party_\d+_cand_\d+$")


def unused_rows(values: Values, field_ids: Iterable[str]) -> set[str]:
    """Fields of D.Hasil desa rows left entirely empty: the kecamatan has fewer desa than rows."""
    rows: dict[str, list[str]] = {}
    for f in field_ids:
        if f.startswith("desa_"):
            rows.setdefault(f[:7], []).append(f)
    return {f for fs in rows.values() if all(values.get(x) is None for x in fs) for f in fs}


def optional_fields(values: Values, field_ids: Iterable[str]) -> set[str]:
    """Empty fields that are legitimately empty: unused desa rows, DPR candidate rows left blank
    (a party lists fewer candidates than the form has rows). They count as 0 in sums."""
    ids = list(field_ids)
    blank_candidates = {f for f in ids if _DPR_CANDIDATE.match(f) and values.get(f) is None}
    return unused_rows(values, ids) | blank_candidates


def may_be_empty(field_id: str) -> bool:
    """Whether ``field_id`` is of a kind that may be left empty (see ``optional_fields``)."""
    return field_id.startswith("desa_") or bool(_DPR_CANDIDATE.match(field_id))


def rules_for(field_ids: Iterable[str], rules: Iterable[Rule] = ALL_RULES) -> list[Rule]:
    """The rules that apply to a form with these fields (D.Hasil column rules included)."""
    ids = list(field_ids)
    return [r for r in (*rules, *dhasil_column_rules(ids)) if r.applies_to(ids)]


def _result(rule: Rule, broken: tuple[float, float]) -> RuleResult:
    return RuleResult(rule_id=rule.id, severity=rule.severity, fields=list(rule.fields),
                      expected=float(broken[0]), found=float(broken[1]),
                      message_id=rule.message_id, message_en=rule.message_en)


def range_results(values: Values, field_ids: list[str], max_values: dict[str, int]) -> list[RuleResult]:
    """R10: every field present and an integer within its boxes' range."""
    out: list[RuleResult] = []
    optional = optional_fields(values, field_ids)
    for f in field_ids:
        if f in optional:
            continue
        v = values.get(f)
        if v is None or not 0 <= v <= max_values[f]:
            out.append(RuleResult(rule_id="R10", severity=HARD, fields=[f], expected=None,
                                  found=None if v is None else float(v),
                                  message_id=f"{f}: harus bilangan bulat 0-{max_values[f]}",
                                  message_en=f"{f}: must be an integer 0-{max_values[f]}"))
    return out


def checkable(values: Values, field_ids: Iterable[str]) -> dict[str, int]:
    """The values rules can use: present ones, plus legitimately empty fields as 0."""
    ids = list(field_ids)
    present = {f: v for f, v in values.items() if v is not None}
    return present | {f: 0 for f in optional_fields(values, ids)}


def evaluate(values: Values, field_ids: list[str], max_values: dict[str, int],
             rules: Iterable[Rule] = ALL_RULES) -> list[RuleResult]:
    """Every rule result that is not clean, for one form."""
    out = range_results(values, field_ids, max_values)
    present = checkable(values, field_ids)
    for rule in rules_for(field_ids, rules):
        if not all(f in present for f in rule.fields):
            continue
        broken = rule.check(present)
        if broken is not None:
            out.append(_result(rule, broken))
    return out


def is_flagging(issue: RuleResult) -> bool:
    """Whether a broken rule sends the form to review: every hard rule, and the two soft rules that
    catch what the hard ones cannot (a page of another TPS: R5S.gap; DPT differing across the forms
    of one TPS: R13). Other soft rules are published as notes only."""
    return issue.severity == HARD or issue.rule_id in REVIEW_SOFT_RULES


REVIEW_SOFT_RULES = frozenset({"R5S.gap", "R13"})


# --------------------------------------------------------------------------- readings-level rules

def bubble_results(readings: Iterable[FieldReading], values: Values) -> list[RuleResult]:
    """R11 (soft): the blackened bubbles, where confidently read, match the number in the boxes.
    R11.unclear: bubbles marked unclearly (a half-filled bubble, two in a column) that do not read as
    the number either: not evidence of a value, but a doubt -- an officer who blackened 8 under a
    written 3 was measured to produce exactly this when a photo blurs another column."""
    out = []
    for r in readings:
        v = values.get(r.field_id, r.value)
        b = r.bubble_value
        if b is None or b == v:
            continue
        if r.bubble_confident:
            rule, text_id, text_en = ("R11.bubbles", f"bulatan yang dihitamkan ({b})", f"the blackened bubbles ({b})")
        else:
            rule, text_id, text_en = ("R11.unclear", f"bulatan tidak jelas (terbaca {b}) dan",
                                      f"the bubbles are unclearly marked (read as {b}) and")
        out.append(RuleResult(rule_id=rule, severity=SOFT, fields=[r.field_id], expected=float(b),
                              found=None if v is None else float(v),
                              message_id=f"{r.field_id}: {text_id} berbeda dengan angka ({v})",
                              message_en=f"{r.field_id}: {text_en} differ from the digits ({v})"))
    return out


def sure_enough_to_compare(r: FieldReading) -> bool:
    """Every box of the reading at ``CROSS_CHECK_MIN_P`` or more (merged symbol: X and blank are one
    "no digit"), and well formed: a reading that may stand against another reading of the paper."""
    if r.malformed:
        return False
    for d in r.digits:
        p = d.probs
        if max(max(p[:CLASS_NODIGIT]), p[CLASS_NODIGIT] + p[CLASS_BLANK]) < CROSS_CHECK_MIN_P:
            return False
    return True


def scan_agreement_results(page: int, kept: list[FieldReading],
                           others: list[list[FieldReading]]) -> list[RuleResult]:
    """R12 (hard): several scans of the same page agree on every field both read surely enough
    (``sure_enough_to_compare``)."""
    out = []
    mine = {r.field_id: r for r in kept}
    for other in others:
        for r in other:
            k = mine.get(r.field_id)
            if k is None or k.value == r.value or not sure_enough_to_compare(k) or not sure_enough_to_compare(r):
                continue
            out.append(RuleResult(rule_id="R12", severity=HARD, fields=[r.field_id],
                                  expected=None if k.value is None else float(k.value),
                                  found=None if r.value is None else float(r.value),
                                  message_id=f"Halaman {page}: dua pindaian berbeda pada {r.field_id} "
                                             f"({k.value} / {r.value})",
                                  message_en=f"Page {page}: two scans differ on {r.field_id} "
                                             f"({k.value} / {r.value})"))
    return out


# --------------------------------------------------------------------------- the catalogue

@dataclass(frozen=True)
class RuleDoc:
    number: int
    severity: str  # "hard", "soft" or "hard+soft"
    text_id: str
    text_en: str
    where: str  # which function evaluates it


RULE_CATALOG: dict[int, RuleDoc] = {d.number: d for d in (
    RuleDoc(1, HARD, "L + P = L+P untuk A, B.1-B.4 dan III", "L + P = L+P for A, B.1-B.4 and III",
            "evaluate"),
    RuleDoc(2, HARD, "B.4 = B.1 + B.2 + B.3", "B.4 = B.1 + B.2 + B.3", "evaluate"),
    RuleDoc(3, HARD, "V.A = jumlah suara paslon (IV)", "V.A = sum of the candidate votes (IV)", "evaluate"),
    RuleDoc(4, HARD, "V.C = V.A + V.B", "V.C = V.A + V.B", "evaluate"),
    RuleDoc(5, "hard+soft", "V.C <= B.4; V.C = B.4 = II.2 diharapkan",
            "V.C <= B.4; V.C = B.4 = II.2 expected", "evaluate"),
    RuleDoc(6, HARD, "II.1 = II.2 + II.3 + II.4", "II.1 = II.2 + II.3 + II.4", "evaluate"),
    RuleDoc(7, SOFT, "II.1 = DPT + 2%; B.2 + B.3 + II.3 muat dalam cadangan",
            "II.1 = DPT + 2%; B.2 + B.3 + II.3 fit within the reserve", "evaluate"),
    RuleDoc(8, "hard+soft", "B.1 <= A; suara <= 1,02 x DPT; B.4 <= II.1",
            "B.1 <= A; votes <= 1.02 x DPT; B.4 <= II.1", "evaluate"),
    RuleDoc(9, HARD, "III <= B.4 (L dan P)", "III <= B.4 (L and P)", "evaluate"),
    RuleDoc(10, HARD, "setiap isian bilangan bulat dalam rentang kotaknya",
            "every field an integer within its boxes' range", "range_results"),
    RuleDoc(11, SOFT, "bulatan sesuai dengan angka (tally dan huruf tidak dibaca)",
            "bubbles match the digits (tallies and words are not read)", "bubble_results"),
    RuleDoc(12, HARD, "pindaian ganda halaman yang sama harus sama",
            "several scans of the same page agree", "scan_agreement_results"),
    RuleDoc(13, SOFT, "DPT sama pada semua formulir satu TPS", "DPT is the same on every form of a TPS",
            "transform.reconcile.dpt_consistency"),
    RuleDoc(14, HARD, "D.Hasil = jumlah C.Hasil TPS-nya; D.Hasil memenuhi 1-9",
            "D.Hasil = sum of its TPS' C.Hasil; D.Hasil obeys 1-9", "transform.reconcile.reconcile"),
    RuleDoc(15, HARD, "per partai: suara partai + calon = jumlah; jumlah partai = V.A",
            "per party: party-only + candidates = total; party totals sum to V.A", "evaluate"),
)}


def rule_number(rule_id: str) -> int | None:
    """``"R5S.gap"`` -> 5; ``"ID.header"`` -> None."""
    m = re.match(r"^R(\d+)", rule_id)
    return int(m.group(1)) if m else None

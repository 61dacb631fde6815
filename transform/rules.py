"""The form's own arithmetic (FORMS.md rules 1-11 and 15) as named rules.

A rule has a stable id (``R<n>`` from FORMS.md, with a suffix where one rule has several checks),
a severity, the fields it involves, and messages in Indonesian and English. A rule whose fields are
not all on a form type does not apply to it; a rule with a missing value is not evaluated (R10
reports the missing value). Cross-form rules (12-14) live in ``transform.reconcile``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from schemas.records import RuleResult

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

    def applies_to(self, field_ids: Iterable[str]) -> bool:
        have = set(field_ids)
        return all(f in have for f in self.fields)


def _sum_rule(rid: str, total: str, parts: tuple[str, ...], sev: str, label_id: str, label_en: str) -> Rule:
    def check(v: dict[str, int]) -> tuple[float, float] | None:
        expected = sum(v[p] for p in parts)
        return None if v[total] == expected else (expected, v[total])

    return Rule(rid, sev, (total, *parts), check, label_id, label_en)


def _le_rule(rid: str, small: str, big: str, sev: str, label_id: str, label_en: str,
             factor: float = 1.0) -> Rule:
    def check(v: dict[str, int]) -> tuple[float, float] | None:
        limit = v[big] * factor
        return None if v[small] <= limit else (limit, v[small])

    return Rule(rid, sev, (small, big), check, label_id, label_en)


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
    """D.Hasil: the kecamatan totals equal the sum of the desa rows that are filled in."""
    ids = set(field_ids)
    rules = []
    for col, total in (("votes_1", "votes_1"), ("votes_2", "votes_2"), ("votes_3", "votes_3"),
                       ("valid_votes", "valid_votes"), ("invalid_votes", "invalid_votes")):
        rows = tuple(sorted(f for f in ids if f.startswith("desa_") and f.endswith(f"_{col}")))
        if not rows or total not in ids:
            continue

        def check(v: dict[str, int], total: str = total, rows: tuple[str, ...] = rows) -> tuple[float, float] | None:
            expected = sum(v.get(r, 0) for r in rows)
            return None if v[total] == expected else (expected, v[total])

        rules.append(Rule(f"R14.col_{col}", HARD, (total,), check,
                          f"Jumlah kecamatan {col} harus sama dengan jumlah baris desa",
                          f"The kecamatan {col} must equal the sum of the desa rows"))
    return rules


def unused_rows(values: Values, field_ids: Iterable[str]) -> set[str]:
    """Fields of D.Hasil desa rows left entirely empty: the kecamatan has fewer desa than rows."""
    rows: dict[str, list[str]] = {}
    for f in field_ids:
        if f.startswith("desa_"):
            rows.setdefault(f[:7], []).append(f)
    return {f for fs in rows.values() if all(values.get(x) is None for x in fs) for f in fs}


def evaluate(values: Values, field_ids: list[str], max_values: dict[str, int],
             rules: Iterable[Rule] = ALL_RULES) -> list[RuleResult]:
    """Every rule result that is not clean, for one form."""
    out: list[RuleResult] = []
    unused = unused_rows(values, field_ids)
    for f in field_ids:  # R10: every field present and an integer within its boxes' range
        if f in unused:
            continue
        v = values.get(f)
        if v is None or not 0 <= v <= max_values[f]:
            out.append(RuleResult(rule_id="R10", severity=HARD, fields=[f], expected=None,
                                  found=None if v is None else float(v),
                                  message_id=f"{f}: harus bilangan bulat 0-{max_values[f]}",
                                  message_en=f"{f}: must be an integer 0-{max_values[f]}"))
    present = {f: v for f, v in values.items() if v is not None}
    all_rules = [*rules, *dhasil_column_rules(field_ids)]
    for rule in all_rules:
        if not rule.applies_to(field_ids) or not all(f in present for f in rule.fields):
            continue
        broken = rule.check(present)
        if broken is not None:
            out.append(RuleResult(rule_id=rule.id, severity=rule.severity, fields=list(rule.fields),
                                  expected=float(broken[0]), found=float(broken[1]),
                                  message_id=rule.message_id, message_en=rule.message_en))
    return out

"""Generated values obey FORMS.md's hard rules; injected mistakes break them.

The rule checker here is written from FORMS.md on purpose, independent of synth.values.
"""

from __future__ import annotations

import numpy as np
import pytest

from synth import values


def broken_rules(v: dict, form_type: str) -> list[str]:
    """FORMS.md hard rules 1-6, 8-10, 15 (and the D.Hasil's own row/column sums)."""
    out = []
    cap = 999999 if form_type == "dhasil-ppwp" else 999
    if any(x is not None and not 0 <= x <= cap for x in v.values()):
        out.append("10")
    for row in ("dpt", "voters_dpt", "voters_dptb", "voters_dpk", "voters_total", "disabled_voters"):
        if v[f"{row}_l"] + v[f"{row}_p"] != v[f"{row}_total"]:
            out.append(f"1 {row}")
    for s in ("l", "p", "total"):
        if v[f"voters_total_{s}"] != v[f"voters_dpt_{s}"] + v[f"voters_dptb_{s}"] + v[f"voters_dpk_{s}"]:
            out.append(f"2 {s}")
        if v[f"voters_dpt_{s}"] > v[f"dpt_{s}"]:
            out.append(f"8 {s}")
    if form_type == "dpr":
        totals = 0
        for p in range(1, 19):
            cands = [v[f"party_{p:02d}_cand_{c}"] or 0 for c in range(1, 9)]
            if v[f"party_{p:02d}_votes"] + sum(cands) != v[f"party_{p:02d}_total"]:
                out.append(f"15 {p}")
            totals += v[f"party_{p:02d}_total"]
        if totals != v["valid_votes"]:
            out.append("3")
    elif v["votes_1"] + v["votes_2"] + v["votes_3"] != v["valid_votes"]:
        out.append("3")
    if v["valid_votes"] + v["invalid_votes"] != v["total_votes"]:
        out.append("4")
    if v["total_votes"] > v["voters_total_total"]:
        out.append("5")
    if v["ballots_used"] + v["ballots_damaged"] + v["ballots_unused"] != v["ballots_received"]:
        out.append("6")
    if v["disabled_voters_l"] > v["voters_total_l"] or v["disabled_voters_p"] > v["voters_total_p"]:
        out.append("9")
    if form_type == "dhasil-ppwp":
        rows = [r for r in range(1, 31) if v.get(f"desa_{r:02d}_valid_votes") is not None]
        for k in ("votes_1", "votes_2", "votes_3", "valid_votes", "invalid_votes"):
            if sum(v[f"desa_{r:02d}_{k}"] for r in rows) != v[k]:
                out.append(f"14 {k}")
        for r in rows:
            if sum(v[f"desa_{r:02d}_votes_{i}"] for i in (1, 2, 3)) != v[f"desa_{r:02d}_valid_votes"]:
                out.append(f"3 desa {r}")
    return out


CODES = [f"3273010001{n:03d}" for n in range(1, 120)]


@pytest.mark.parametrize("seed", [0, 7])
def test_tps_values_obey_hard_rules_and_are_plausible(seed: int) -> None:
    for code in CODES:
        v = values.ppwp_values(seed, code)
        assert broken_rules(v, "ppwp") == [], (code, v)
        assert values.hard_rule_violations("ppwp", v) == []
        assert 150 <= v["dpt_total"] <= 300
        assert 0.59 <= v["voters_total_total"] / v["dpt_total"] <= 0.93
        assert v["ballots_received"] == v["dpt_total"] + -(-v["dpt_total"] * 2 // 100)  # DPT + 2%, rounded up
        assert v["ballots_used"] == v["voters_total_total"]
        assert v["invalid_votes"] <= 0.03 * v["total_votes"]


def test_values_depend_on_seed_and_code_only() -> None:
    assert values.ppwp_values(3, CODES[0]) == values.ppwp_values(3, CODES[0])
    assert values.ppwp_values(3, CODES[0]) != values.ppwp_values(4, CODES[0])
    # Rule 13: the DPR form of a TPS carries the same DPT as its PPWP form.
    assert values.dpr_values(3, CODES[0])["dpt_total"] == values.ppwp_values(3, CODES[0])["dpt_total"]


def test_dpr_values_obey_party_rules() -> None:
    for code in CODES[:60]:
        v = values.dpr_values(1, code)
        assert broken_rules(v, "dpr") == [], code
        assert len([k for k in v if k.startswith("party_") and k.endswith("_total")]) == 18


def test_dhasil_is_the_sum_of_its_tps() -> None:
    desa = {"3273010001": CODES[:5], "3273010002": [f"3273010002{n:03d}" for n in range(1, 4)]}
    v = values.dhasil_values(5, desa)
    assert broken_rules(v, "dhasil-ppwp") == []
    tps = [values.ppwp_values(5, c) for cs in desa.values() for c in cs]
    for k in ("dpt_total", "votes_2", "total_votes", "ballots_unused"):
        assert v[k] == sum(t[k] for t in tps)
    assert v["desa_02_votes_1"] == sum(values.ppwp_values(5, c)["votes_1"] for c in desa["3273010002"])
    assert v["desa_03_votes_1"] is None  # unused rows stay blank


def test_mistakes_break_a_hard_rule() -> None:
    rng = np.random.default_rng(0)
    for code in CODES[:40]:
        v = values.ppwp_values(2, code)
        m = values.sum_off(v, rng, values.FormType.PPWP, 999)
        assert m is not None and m.kind == "sum_off"
        assert broken_rules(v, "ppwp"), m
        v = values.ppwp_values(2, code)
        m = values.swap(v, rng, values.FormType.PPWP, lambda w: bool(broken_rules(w, "ppwp")))
        assert m is not None and broken_rules(v, "ppwp")
        a, b = m.fields
        clean = values.ppwp_values(2, code)
        assert (v[a], v[b]) == (clean[b], clean[a])
    d = values.dhasil_values(1, {"3273010001": CODES[:6]})
    m = values.recap_off(d, rng)
    assert m.kind == "recap_off" and broken_rules(d, "dhasil-ppwp")

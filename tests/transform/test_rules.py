import pytest
from transform_factory import consistent_ppwp as consistent

from transform.rules import ALL_RULES, evaluate

PPWP_IDS = [
    *(f"{r}_{g}" for r in ("dpt", "voters_dpt", "voters_dptb", "voters_dpk", "voters_total")
      for g in ("l", "p", "total")),
    "ballots_received", "ballots_used", "ballots_damaged", "ballots_unused",
    "disabled_voters_l", "disabled_voters_p", "disabled_voters_total",
    "votes_1", "votes_2", "votes_3", "valid_votes", "invalid_votes", "total_votes",
]
MAX = {f: 999 for f in PPWP_IDS}


def test_consistent_form_breaks_no_rule() -> None:
    assert evaluate(consistent(), PPWP_IDS, MAX) == []


@pytest.mark.parametrize(("field", "delta", "rule"), [
    ("dpt_total", 1, "R1.dpt"),
    ("voters_total_p", 1, "R1.voters_total"),
    ("votes_1", 3, "R3"),
    ("invalid_votes", 1, "R4"),
    ("ballots_unused", -2, "R6"),
])
def test_each_hard_rule_catches_its_mistake(field: str, delta: int, rule: str) -> None:
    v = consistent()
    v[field] += delta
    broken = {i.rule_id for i in evaluate(v, PPWP_IDS, MAX) if i.severity == "hard"}
    assert rule in broken


def test_more_votes_than_voters_is_hard_and_reports_values() -> None:
    v = consistent()
    v["votes_1"] += 100
    v["valid_votes"] += 100
    v["total_votes"] += 100
    res = {i.rule_id: i for i in evaluate(v, PPWP_IDS, MAX)}
    assert res["R5"].severity == "hard"
    assert (res["R5"].expected, res["R5"].found) == (194, 294)
    assert res["R5"].message_id and res["R5"].message_en


def test_missing_and_out_of_range_values_break_r10() -> None:
    v: dict[str, int | None] = dict(consistent())
    v["votes_2"] = None
    v["votes_3"] = 1200
    r10 = [i.fields[0] for i in evaluate(v, PPWP_IDS, MAX) if i.rule_id == "R10"]
    assert r10 == ["votes_2", "votes_3"]


def test_rule_ids_are_unique() -> None:
    ids = [r.id for r in ALL_RULES]
    assert len(ids) == len(set(ids))


def test_dpr_party_sums() -> None:
    ids = [f"party_01_{s}" for s in ("votes", *(f"cand_{c}" for c in range(1, 9)), "total")]
    v = {f: 1 for f in ids}
    v["party_01_total"] = 9
    assert evaluate(v, ids, {f: 999 for f in ids}) == []
    v["party_01_total"] = 10
    assert [i.rule_id for i in evaluate(v, ids, {f: 999 for f in ids})] == ["R15.party_01"]

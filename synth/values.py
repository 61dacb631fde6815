"""Plausible numbers for generated forms, the hard rules they must satisfy, and officer mistakes.

Values of one TPS depend only on ``(seed, tps_code)`` so every form of that TPS in a batch (PPWP,
Salinan, DPR) carries the same DPT and voters (rule 13), and a D.Hasil recap of a kecamatan is
exactly the sum of the C.Hasil forms generated for its TPS (rule 14).

Field ids follow the layouts (``schemas/layouts/*.json``); this module only knows the id scheme.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

from schemas.layout import FormType
from schemas.truth import Mistake

Values = dict[str, int | None]

ROWS_LMP = ("dpt", "voters_dpt", "voters_dptb", "voters_dpk", "voters_total", "disabled_voters")
N_PAIRS = 3
N_PARTIES = 18
N_CANDIDATES = 8
N_DESA_ROWS = 30
# 2024 national shares of the three pairs; each TPS draws its own around them.
PAIR_SHARES = np.array([0.249, 0.586, 0.165])


def _lmp(prefix: str) -> tuple[str, str, str]:
    return f"{prefix}_l", f"{prefix}_p", f"{prefix}_total"


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


# --------------------------------------------------------------------------- one TPS

def tps_base_values(seed: int, tps_code: str) -> Values:
    """Page 1 and PPWP votes of one TPS (fields of the PPWP form), satisfying every hard rule."""
    rng = _rng(seed, int(tps_code), 1)
    v: Values = {}
    dpt = int(rng.integers(150, 301))
    dpt_l = int(round(dpt * rng.normal(0.5, 0.025)))
    dpt_l = min(max(dpt_l, 0), dpt)
    v.update(zip(_lmp("dpt"), (dpt_l, dpt - dpt_l, dpt), strict=True))
    reserve = math.ceil(dpt * 0.02)

    turnout = rng.uniform(0.6, 0.9)
    b1_l = int(round(dpt_l * float(np.clip(turnout + rng.normal(0, 0.015), 0.6, 0.9))))
    b1_p = int(round((dpt - dpt_l) * float(np.clip(turnout + rng.normal(0, 0.015), 0.6, 0.9))))
    # DPTb, DPK and damaged ballots come out of the 2% reserve (soft rule 7): keep them inside it.
    dptb, dpk, damaged = (int(x) for x in rng.poisson([1.2, 0.6, 0.6]))
    while dptb + dpk + damaged > reserve:
        k = int(np.argmax([dptb, dpk, damaged]))
        dptb, dpk, damaged = (x - (i == k) for i, x in enumerate((dptb, dpk, damaged)))
    b2_l = int(rng.binomial(dptb, 0.5))
    b3_l = int(rng.binomial(dpk, 0.5))
    v.update(zip(_lmp("voters_dpt"), (b1_l, b1_p, b1_l + b1_p), strict=True))
    v.update(zip(_lmp("voters_dptb"), (b2_l, dptb - b2_l, dptb), strict=True))
    v.update(zip(_lmp("voters_dpk"), (b3_l, dpk - b3_l, dpk), strict=True))
    b4_l, b4_p = b1_l + b2_l + b3_l, (b1_p + dptb - b2_l + dpk - b3_l)
    v.update(zip(_lmp("voters_total"), (b4_l, b4_p, b4_l + b4_p), strict=True))
    b4 = b4_l + b4_p

    received = dpt + reserve
    v["ballots_received"] = received
    v["ballots_used"] = b4
    v["ballots_damaged"] = damaged
    v["ballots_unused"] = received - b4 - damaged
    assert v["ballots_unused"] >= 0

    dis_l = int(rng.binomial(b4_l, 0.006))
    dis_p = int(rng.binomial(b4_p, 0.006))
    v.update(zip(_lmp("disabled_voters"), (dis_l, dis_p, dis_l + dis_p), strict=True))

    # Counted ballots normally equal voters; now and then one or two are missing (V.C <= B.4).
    total = b4 - (int(rng.integers(1, 3)) if rng.random() < 0.05 else 0)
    invalid = int(total * rng.uniform(0.0, 0.03))  # 0-3% invalid
    valid = total - invalid
    shares = rng.dirichlet(PAIR_SHARES * 12 + 0.3)
    votes = rng.multinomial(valid, shares)
    for i, n in enumerate(votes, start=1):
        v[f"votes_{i}"] = int(n)
    v["valid_votes"], v["invalid_votes"], v["total_votes"] = valid, invalid, total
    return v


def dpr_values(seed: int, tps_code: str) -> Values:
    """C.Hasil-DPR of one TPS: page 1 as PPWP; 18 parties, up to 8 candidates each."""
    base = tps_base_values(seed, tps_code)
    rng = _rng(seed, int(tps_code), 2)
    v: Values = {k: base[k] for k in base if not k.startswith("votes_") and k not in
                 ("valid_votes", "invalid_votes", "total_votes")}
    total = base["total_votes"]
    assert total is not None
    invalid = int(rng.binomial(total, rng.uniform(0.01, 0.06)))  # DPR ballots are harder to mark
    valid = total - invalid
    party_share = rng.dirichlet(np.full(N_PARTIES, 0.6))
    party_totals = rng.multinomial(valid, party_share)
    for p in range(1, N_PARTIES + 1):
        pt = int(party_totals[p - 1])
        n_cand = N_CANDIDATES if rng.random() < 0.6 else int(rng.integers(3, N_CANDIDATES))
        only = int(rng.binomial(pt, rng.uniform(0.15, 0.45)))
        # Top of the list gets more votes.
        cand = rng.multinomial(pt - only, rng.dirichlet(np.linspace(2.0, 0.4, n_cand)))
        v[f"party_{p:02d}_votes"] = only
        for c in range(1, N_CANDIDATES + 1):
            v[f"party_{p:02d}_cand_{c}"] = int(cand[c - 1]) if c <= n_cand else None
        v[f"party_{p:02d}_total"] = pt
    v["valid_votes"], v["invalid_votes"], v["total_votes"] = valid, invalid, total
    return v


def ppwp_values(seed: int, tps_code: str) -> Values:
    return tps_base_values(seed, tps_code)


def dhasil_values(seed: int, desa_tps: dict[str, list[str]]) -> Values:
    """D.Hasil of a kecamatan: sums of its TPS' PPWP values; ``desa_tps`` in register order."""
    agg: dict[str, int] = {}
    v: Values = {}
    if len(desa_tps) > N_DESA_ROWS:
        raise ValueError(f"kecamatan has {len(desa_tps)} desa, the recap has {N_DESA_ROWS} rows")
    for row, tps_codes in enumerate(desa_tps.values(), start=1):
        desa_sum: dict[str, int] = {}
        for code in tps_codes:
            for k, x in tps_base_values(seed, code).items():
                assert x is not None
                agg[k] = agg.get(k, 0) + x
                desa_sum[k] = desa_sum.get(k, 0) + x
        for k in ("votes_1", "votes_2", "votes_3", "valid_votes", "invalid_votes"):
            v[f"desa_{row:02d}_{k}"] = desa_sum.get(k, 0)
    for row in range(len(desa_tps) + 1, N_DESA_ROWS + 1):
        for k in ("votes_1", "votes_2", "votes_3", "valid_votes", "invalid_votes"):
            v[f"desa_{row:02d}_{k}"] = None
    v.update(agg)
    return v


# --------------------------------------------------------------------------- hard rules

def _get(v: Values, k: str) -> int | None:
    return v.get(k)


def hard_rule_violations(form_type: FormType | str, v: Values, max_value: int | None = None) -> list[str]:
    """Names of the hard rules (FORMS.md 1-10, 14 internal, 15) that ``v`` breaks."""
    ft = FormType(form_type)
    bad: list[str] = []
    cap = max_value if max_value is not None else (999999 if ft == FormType.DHASIL_PPWP else 999)

    def eq(rule: str, lhs: str, rhs: Iterable[str]) -> None:
        a = _get(v, lhs)
        parts = [_get(v, r) for r in rhs]
        if a is None or any(p is None for p in parts) or a != sum(parts):  # type: ignore[arg-type]
            bad.append(f"{rule}:{lhs}")

    def le(rule: str, lhs: str, rhs: str) -> None:
        a, b = _get(v, lhs), _get(v, rhs)
        if a is None or b is None or a > b:
            bad.append(f"{rule}:{lhs}<={rhs}")

    for k, x in v.items():
        if x is not None and not 0 <= x <= cap:
            bad.append(f"10:{k}")
    for row in ROWS_LMP:
        l_, p_, t_ = _lmp(row)
        eq("1", t_, (l_, p_))
    for s in ("l", "p", "total"):
        eq("2", f"voters_total_{s}", (f"voters_dpt_{s}", f"voters_dptb_{s}", f"voters_dpk_{s}"))
        le("8", f"voters_dpt_{s}", f"dpt_{s}")
    if ft == FormType.DPR:
        eq("3", "valid_votes", [f"party_{p:02d}_total" for p in range(1, N_PARTIES + 1)])
        for p in range(1, N_PARTIES + 1):
            cands = [f"party_{p:02d}_cand_{c}" for c in range(1, N_CANDIDATES + 1)
                     if _get(v, f"party_{p:02d}_cand_{c}") is not None]
            eq("15", f"party_{p:02d}_total", [f"party_{p:02d}_votes", *cands])
    else:
        eq("3", "valid_votes", [f"votes_{i}" for i in range(1, N_PAIRS + 1)])
    eq("4", "total_votes", ("valid_votes", "invalid_votes"))
    le("5", "total_votes", "voters_total_total")
    eq("6", "ballots_received", ("ballots_used", "ballots_damaged", "ballots_unused"))
    le("9", "disabled_voters_l", "voters_total_l")
    le("9", "disabled_voters_p", "voters_total_p")
    if ft == FormType.DHASIL_PPWP:
        rows = [r for r in range(1, N_DESA_ROWS + 1) if _get(v, f"desa_{r:02d}_valid_votes") is not None]
        for r in rows:
            eq("3", f"desa_{r:02d}_valid_votes", [f"desa_{r:02d}_votes_{i}" for i in range(1, N_PAIRS + 1)])
        for k in ("votes_1", "votes_2", "votes_3", "valid_votes", "invalid_votes"):
            eq("14", k, [f"desa_{r:02d}_{k}" for r in rows])
    return bad


def recap_violations(v: Values, tps_sums: Values) -> list[str]:
    """Rule 14: every D.Hasil aggregate field equals the sum over its TPS forms."""
    return [f"14:{k}" for k, x in tps_sums.items() if v.get(k) != x]


# --------------------------------------------------------------------------- officer mistakes

SUM_FIELDS = {
    "common": ["dpt_total", "voters_dpt_total", "voters_total_l", "voters_total_p", "voters_total_total",
               "ballots_unused", "ballots_received", "total_votes", "valid_votes"],
    "ppwp": ["votes_1", "votes_2", "votes_3"],
}
SWAP_PAIRS = [
    ("voters_dpt_l", "voters_dpt_p"), ("valid_votes", "invalid_votes"), ("voters_dptb_total", "voters_dpk_total"),
    ("dpt_l", "voters_dpt_l"), ("ballots_used", "ballots_damaged"), ("voters_total_l", "voters_total_p"),
    ("votes_1", "valid_votes"), ("dpt_total", "ballots_received"),
]


def sum_off(v: Values, rng: np.random.Generator, ft: FormType, cap: int) -> Mistake | None:
    """A derived number written a few votes off."""
    cands = list(SUM_FIELDS["common"])
    if ft == FormType.DPR:
        cands += [f"party_{p:02d}_total" for p in range(1, N_PARTIES + 1)]
    else:
        cands += SUM_FIELDS["ppwp"]
    cands = [c for c in cands if v.get(c) is not None]
    for _ in range(20):
        f = cands[int(rng.integers(len(cands)))]
        old = v[f]
        assert old is not None
        delta = int(rng.choice([-1, 1])) * int(rng.integers(1, 10))
        new = old + delta
        if 0 <= new <= cap:
            v[f] = new
            return Mistake(kind="sum_off", fields=[f], detail=f"{f} written {new} instead of {old}")
    return None


def swap(v: Values, rng: np.random.Generator, ft: FormType, violates: Callable[[Values], bool]) -> Mistake | None:
    """Two numbers written in each other's boxes (only pairs where this breaks a hard rule)."""
    order = rng.permutation(len(SWAP_PAIRS))
    for i in order:
        a, b = SWAP_PAIRS[int(i)]
        if v.get(a) is None or v.get(b) is None or v[a] == v[b]:
            continue
        w = dict(v)
        w[a], w[b] = v[b], v[a]
        if violates(w):
            v[a], v[b] = w[a], w[b]
            return Mistake(kind="swap", fields=[a, b], detail=f"{a}={w[a]} and {b}={w[b]} swapped")
    return None


def recap_off(v: Values, rng: np.random.Generator) -> Mistake:
    """D.Hasil: one desa row or one kecamatan total copied wrongly from the C.Hasil forms."""
    rows = [r for r in range(1, N_DESA_ROWS + 1) if v.get(f"desa_{r:02d}_votes_1") is not None]
    if rng.random() < 0.6 and rows:
        r = rows[int(rng.integers(len(rows)))]
        f = f"desa_{r:02d}_votes_{int(rng.integers(1, N_PAIRS + 1))}"
    else:
        f = str(rng.choice(["votes_1", "votes_2", "votes_3", "valid_votes", "total_votes"]))
    old = v[f]
    assert old is not None
    delta = int(rng.integers(1, 40))
    new = old + delta if old < delta or rng.random() < 0.5 else old - delta
    v[f] = new
    return Mistake(kind="recap_off", fields=[f], detail=f"{f} recapped as {new} instead of {old}")

"""The results report: one self-contained HTML page an analyst would rather look at than read.

It reads a release through ``load.parquet_io.read_table`` (the README's own pandas call) and shows,
per province and kab/kota, the votes per candidate pair with the share of TPS verified / needing
review / missing; coverage against the TPS register; D.Hasil against the sum of its C.Hasil; and the
screens election analysts run on TPS results. Screens are leads for a steward, never findings: each
lists its TPS with a link to the review queue, and nothing here changes a status.

The numbers are computed by plain functions on DataFrames (``tps_table``, ``screen_*``,
``last_digit_tests``, ...) so they can be tested without rendering; ``render`` only formats them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from load import report_charts as charts
from load.parquet_io import read_table

PPWP_TYPES = ("ppwp", "ppwp-salinan")  # C.Hasil PPWP: plano first, then the A4 copy
PAIR = re.compile(r"^votes_(\d+)$")
DEFAULT_REVIEW_URL = "http://127.0.0.1:8700"

# Screen thresholds, fixed before looking at any batch and documented in the report itself.
OUTLIER_Z = 3.5  # Iglewicz & Hoaglin's cut-off for the modified (median/MAD) z-score
OUTLIER_MIN_TPS = 8  # a kecamatan needs this many TPS with the value to have a "pattern"
ROUND_TO = 10  # a form whose pair votes and valid votes all end in 0 (about 1 in 10,000 by chance)
LAST_DIGIT_MIN_VOTES = 10  # last digits are ~uniform only for counts of two digits or more
LAST_DIGIT_MIN_N = 50  # numbers a region needs for the chi-square (expected >= 5 per digit)
LAST_DIGIT_ALPHA = 0.01


# --------------------------------------------------------------------------- data

def pair_columns(df: pd.DataFrame) -> list[str]:
    return sorted((c for c in df.columns if PAIR.match(c)), key=lambda c: int(PAIR.match(c)[1]))


def tps_table(c_hasil: pd.DataFrame) -> pd.DataFrame:
    """One C.Hasil PPWP form per TPS (a verified form before one that is not, then the plano before
    the A4 copy: the rule reconciliation uses), with turnout and each pair's share of valid votes."""
    df = c_hasil[c_hasil["form_type"].isin(PPWP_TYPES)].copy()
    df["_v"] = (df["status"] != "verified").astype(int)
    df["_t"] = df["form_type"].map({t: i for i, t in enumerate(PPWP_TYPES)})
    df = df.sort_values(["tps_code", "_v", "_t"]).drop_duplicates("tps_code").drop(columns=["_v", "_t"])
    for c in ["dpt_total", "voters_total_total", "total_votes", "valid_votes", *pair_columns(df)]:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")  # nullable ints -> NaN
    voters = df["voters_total_total"].fillna(df["total_votes"])
    df["turnout"] = (voters / df["dpt_total"]).where(df["dpt_total"] > 0)
    for c in pair_columns(df):
        df[f"share_{c}"] = (df[c] / df["valid_votes"]).where(df["valid_votes"] > 0)
    return df.reset_index(drop=True)


def robust_z(values: pd.Series, groups: pd.Series, min_group: int = OUTLIER_MIN_TPS) -> pd.Series:
    """Modified z-score of each value within its group: (x - median) / (MAD / 0.6745); where the MAD
    is 0, the mean absolute deviation x 1.2533 instead; NaN in groups with fewer than ``min_group``
    values or no spread."""
    g = values.groupby(groups)
    med = g.transform("median")
    dev = (values - med).abs()
    gd = dev.groupby(groups)
    mad, meanad = gd.transform("median"), gd.transform("mean")
    scale = (mad / 0.6745).where(mad > 0, meanad * 1.2533)
    n = g.transform("count")
    return ((values - med) / scale).where((n >= min_group) & (scale > 0))


def chi2_sf(x: float, k: int) -> float:
    """P(X >= x) for a chi-square with ``k`` degrees of freedom (closed forms for integer k)."""
    if x <= 0:
        return 1.0
    if k % 2 == 0:
        term, total = 1.0, 1.0
        for j in range(1, k // 2):
            term *= (x / 2) / j
            total += term
        return min(1.0, math.exp(-x / 2) * total)
    term, total = 1.0, 0.0
    for j in range(1, (k - 1) // 2 + 1):
        term = term * x / (2 * j - 1) if j > 1 else 1.0
        total += term
    return min(1.0, math.erfc(math.sqrt(x / 2)) + math.sqrt(2 * x / math.pi) * math.exp(-x / 2) * total)


# --------------------------------------------------------------------------- screens

def _listed(tps: pd.DataFrame, mask: pd.Series, extra: list[str]) -> pd.DataFrame:
    cols = ["tps_code", "kabkota_code", "kabkota_name", "kecamatan_code", "kecamatan_name", "status", *extra]
    return tps.loc[mask.fillna(False).astype(bool), [c for c in cols if c in tps.columns]].reset_index(drop=True)


def screen_turnout_over_dpt(tps: pd.DataFrame) -> pd.DataFrame:
    """TPS where more people voted (B.4, else the ballots counted) than are registered (DPT)."""
    return _listed(tps, tps["turnout"] > 1.0, ["dpt_total", "voters_total_total", "turnout"])


def screen_outliers(tps: pd.DataFrame, z: float = OUTLIER_Z) -> pd.DataFrame:
    """TPS far out of their kecamatan's pattern: turnout or a pair's vote share with a modified
    z-score beyond ``z`` among the kecamatan's TPS. One row per TPS and measure."""
    rows = []
    measures = ["turnout", *(f"share_{c}" for c in pair_columns(tps))]
    for m in measures:
        zs = robust_z(tps[m], tps["kecamatan_code"])
        med = tps[m].groupby(tps["kecamatan_code"]).transform("median")
        hit = _listed(tps.assign(measure=m, value=tps[m], kecamatan_median=med, z=zs), zs.abs() > z,
                      ["measure", "value", "kecamatan_median", "z"])
        rows.append(hit)
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return out.sort_values(["tps_code", "measure"]).reset_index(drop=True) if len(out) else out


def screen_full_pair(tps: pd.DataFrame) -> pd.DataFrame:
    """TPS where one pair took every valid vote."""
    pairs = pair_columns(tps)
    full = pd.Series(False, index=tps.index)
    winner = pd.Series(None, index=tps.index, dtype=object)
    for c in pairs:
        hit = (tps["valid_votes"] > 0) & (tps[c] == tps["valid_votes"])
        winner = winner.where(~hit, c.replace("votes_", "paslon_"))
        full |= hit
    return _listed(tps.assign(pair=winner), full, ["pair", "valid_votes"])


def screen_round_totals(tps: pd.DataFrame, step: int = ROUND_TO) -> pd.DataFrame:
    """Forms whose valid votes and every pair's votes are all multiples of ``step`` (counted numbers
    rarely are; written-in estimates often are)."""
    cols = ["valid_votes", *pair_columns(tps)]
    vals = tps[cols]
    mask = vals.notna().all(axis=1) & (tps["valid_votes"] > 0) & (vals % step == 0).all(axis=1)
    return _listed(tps, mask, cols)


@dataclass
class DigitTest:
    level: str
    code: str
    name: str | None
    counts: list[int]
    chi2: float
    p: float

    @property
    def n(self) -> int:
        return sum(self.counts)

    @property
    def flagged(self) -> bool:
        return self.p < LAST_DIGIT_ALPHA


def last_digit_tests(tps: pd.DataFrame) -> list[DigitTest]:
    """Last digits of the pair votes (counts >= 10) against the uniform distribution (chi-square,
    9 degrees of freedom), for the whole release, each kab/kota and each kecamatan with >= 50 numbers."""
    pairs = pair_columns(tps)
    long = tps.melt(id_vars=["province_code", "kabkota_code", "kecamatan_code"], value_vars=pairs,
                    value_name="votes").dropna(subset=["votes"])
    long = long[long["votes"] >= LAST_DIGIT_MIN_VOTES]
    long = long.assign(digit=(long["votes"] % 10).astype(int))
    names = _names(tps)
    out = []
    groups = [("release", pd.Series("all", index=long.index)), ("kabkota", long["kabkota_code"]),
              ("kecamatan", long["kecamatan_code"])]
    for level, key in groups:
        for code, part in long.groupby(key):
            counts = np.bincount(part["digit"], minlength=10).tolist()
            n = sum(counts)
            if n < LAST_DIGIT_MIN_N:
                continue
            e = n / 10
            chi2 = float(sum((c - e) ** 2 / e for c in counts))
            out.append(DigitTest(level, str(code), names.get(str(code)), counts, chi2, chi2_sf(chi2, 9)))
    return out


def _names(tps: pd.DataFrame) -> dict[str, str]:
    out: dict[str, str] = {}
    for lvl in ("province", "kabkota", "kecamatan"):
        if f"{lvl}_name" in tps.columns:
            for code, name in zip(tps[f"{lvl}_code"], tps[f"{lvl}_name"], strict=True):
                if isinstance(name, str):
                    out[code] = name
    return out


# --------------------------------------------------------------------------- regions

def region_summary(tps: pd.DataFrame, coverage: pd.DataFrame, level: str) -> pd.DataFrame:
    """Per province or kab/kota (``level``): TPS expected (register), received, verified, needing
    review, missing; votes per pair as read on every received form and on the verified ones."""
    key = f"{level}_code"
    pairs = pair_columns(tps)
    g = tps.assign(_verified=(tps["status"] == "verified").astype("int64")).groupby(key)
    out = pd.DataFrame({"received": g.size().astype("int64"), "verified": g["_verified"].sum().astype("int64")})
    out["needs_review"] = out["received"] - out["verified"]
    for c in pairs:
        out[c] = g[c].sum(min_count=1)
        out[f"{c}_verified"] = tps[tps["status"] == "verified"].groupby(key)[c].sum().reindex(out.index).fillna(0)
    cov = coverage[(coverage["form_type"] == "ppwp") & (coverage["level"] == level)]
    expected = cov.set_index("region_code")["expected"] if len(cov) else pd.Series(dtype="float64")
    out = out.join(expected.rename("expected"), how="outer")
    # Regions of provinces this release has forms of (the register knows every province).
    present = set(tps["province_code"])
    out = out.loc[[str(c)[:2] in present for c in out.index]]
    out[["received", "verified", "needs_review"]] = out[["received", "verified", "needs_review"]].fillna(0)
    out["missing"] = (out["expected"] - out["received"]).clip(lower=0)
    names = _names(tps)
    if level == "kabkota" and "kabkota_name" in coverage.columns:
        names |= {c: n for c, n in zip(coverage["region_code"], coverage["kabkota_name"], strict=True)
                  if isinstance(n, str)}
    if level == "province" and "province_name" in coverage.columns:
        names |= {c: n for c, n in zip(coverage["region_code"], coverage["province_name"], strict=True)
                  if isinstance(n, str)}
    out["name"] = [names.get(str(c)) for c in out.index]
    return out.rename_axis("code").reset_index()


def dhasil_check(reconciliation: pd.DataFrame) -> pd.DataFrame:
    """Per kecamatan with a D.Hasil: fields compared on the kecamatan totals, how many match the sum
    of its C.Hasil, whether every registered TPS had a form, and the fields that differ."""
    if reconciliation.empty:
        return pd.DataFrame(columns=["kecamatan_code", "kecamatan_name", "d_hasil_status", "compared", "matching",
                                     "tps_forms", "tps_expected", "complete", "differences", "desa_rows_differing"])
    kec = reconciliation[reconciliation["desa_row"].isna()]
    desa = reconciliation[reconciliation["desa_row"].notna()]
    rows = []
    for code, part in kec.groupby("kecamatan_code"):
        diff = part[part["matches"] == False]  # noqa: E712 - nullable booleans
        d = desa[(desa["kecamatan_code"] == code) & (desa["matches"] == False)]  # noqa: E712
        first = part.iloc[0]
        rows.append({
            "kecamatan_code": code, "kecamatan_name": first.get("kecamatan_name"),
            "d_hasil_status": first["d_hasil_status"], "compared": int(part["difference"].notna().sum()),
            "matching": int((part["matches"] == True).sum()),  # noqa: E712
            "tps_forms": int(part["tps_forms"].max()),
            "tps_expected": None if pd.isna(part["tps_expected"].max()) else int(part["tps_expected"].max()),
            "complete": bool(part["complete"].fillna(False).all()),
            "differences": [(r.field_id, r.d_hasil_value, r.tps_sum, r.difference) for r in diff.itertuples()],
            "desa_rows_differing": int(d["desa_row"].nunique()),
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the report

@dataclass
class Report:
    release_id: str
    tps: pd.DataFrame
    provinces: pd.DataFrame
    kabkota: pd.DataFrame
    coverage: pd.DataFrame
    dhasil: pd.DataFrame
    turnout_over_dpt: pd.DataFrame
    outliers: pd.DataFrame
    full_pair: pd.DataFrame
    round_totals: pd.DataFrame
    digits: list[DigitTest]
    meta: dict = field(default_factory=dict)

    def screened_tps(self) -> dict[str, set[str]]:
        """The TPS each TPS screen lists."""
        return {"turnout_over_dpt": set(self.turnout_over_dpt["tps_code"]),
                "outliers": set(self.outliers["tps_code"]) if len(self.outliers) else set(),
                "full_pair": set(self.full_pair["tps_code"]), "round_totals": set(self.round_totals["tps_code"])}


def build_report(release_dir: Path) -> Report:
    from load.catalogue import open_release

    release = open_release(Path(release_dir))
    release_dir, manifest = release.path, release.manifest.model_dump(mode="json")
    c_hasil = read_table(release_dir, "c_hasil")
    coverage = read_table(release_dir, "coverage")
    reconciliation = read_table(release_dir, "reconciliation")
    tps = tps_table(c_hasil)
    return Report(
        release_id=manifest.get("release_id", release_dir.name), tps=tps,
        provinces=region_summary(tps, coverage, "province"), kabkota=region_summary(tps, coverage, "kabkota"),
        coverage=coverage, dhasil=dhasil_check(reconciliation),
        turnout_over_dpt=screen_turnout_over_dpt(tps), outliers=screen_outliers(tps),
        full_pair=screen_full_pair(tps), round_totals=screen_round_totals(tps), digits=last_digit_tests(tps),
        meta={k: manifest.get(k) for k in ("pipeline_version", "model_version", "base_release", "provinces")}
        | {"register": (manifest.get("tps_register") or {}).get("source")},
    )


def write_report(release_dir: Path, out_dir: Path, review_url: str = DEFAULT_REVIEW_URL) -> Path:
    """Build the report of ``release_dir`` and write ``out_dir/index.html``; returns its path."""
    report = build_report(release_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    tmp = out_dir / ".index.html.tmp"
    tmp.write_text(render(report, review_url), encoding="utf-8")
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------- HTML

CSS = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:0 18px 40px;color:#212121}
h1{margin:18px 0 4px}h2{border-bottom:2px solid #1565c0;padding-bottom:3px;margin-top:34px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #ddd;padding:3px 7px}
th{background:#f3f6fa;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#666;font-size:13px}.charts{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.flag{color:#c62828;font-weight:600}.ok{color:#2e7d32}nav a{margin-right:12px}
.kpi{display:inline-block;margin:6px 18px 6px 0}.kpi b{display:block;font-size:22px}
details summary{cursor:pointer;color:#1565c0}
"""


def _num(v: object) -> float:
    """A count for arithmetic: None and NaN (unknown) count as 0."""
    return 0.0 if v is None or pd.isna(v) else float(v)


def _fmt(v: object, pct: bool = False, digits: int = 0) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if pct:
        return f"{float(v):.1%}"
    if isinstance(v, float | int | np.integer | np.floating):
        return f"{float(v):,.{digits}f}"
    return escape(str(v))


def _table(head: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _link(review_url: str, code: str) -> str:
    return f'<a href="{escape(review_url.rstrip("/"))}/forms/{escape(code)}">{escape(code)}</a>'


def _region_label(code: str, name: object) -> str:
    return f"{code} {name}" if isinstance(name, str) else code


def _votes_section(r: Report) -> str:
    pairs = pair_columns(r.tps)
    parts = ['<h2 id="votes">Votes per candidate pair</h2><p class="muted">Votes as read on every received '
             "C.Hasil PPWP form (one per TPS), split into forms verified and forms that still need review; "
             "TPS missing are in the register without a form in this release (verified, needs review and "
             "missing are shares of the TPS expected). Needs-review numbers may be wrong: that is why they "
             "need review.</p>"]
    series_tps = [("verified", charts.VERIFIED), ("needs review", charts.REVIEW), ("missing", charts.MISSING)]
    for _, prov in r.provinces.iterrows():
        label = _region_label(prov["code"], prov["name"])
        pair_rows = [(c.replace("votes_", "paslon "), [_num(prov[f"{c}_verified"]),
                                                      _num(prov[c]) - _num(prov[f"{c}_verified"])])
                     for c in pairs]
        kab = r.kabkota[r.kabkota["code"].str[:2] == prov["code"]]
        tps_rows = [(_region_label(k["code"], k["name"]),
                     [float(k["verified"]), float(k["needs_review"]),
                      _num(k["missing"])])  # no register: unknown, not drawn
                    for _, k in kab.iterrows()]
        parts.append(f"<h3>{escape(label)}</h3><div class=\"charts\">")
        parts.append(charts.stacked_bars(pair_rows, series_tps[:2], f"Votes per pair, {label}", as_share=False,
                                         width=520, label_width=90))
        parts.append(charts.stacked_bars(tps_rows, series_tps, f"TPS by status per kab/kota, {label}",
                                         width=560, label_width=200))
        parts.append("</div>")
        head = ["kab/kota", "TPS expected", "received", "verified", "needs review", "missing",
                *[c.replace("votes_", "paslon ") for c in pairs], *[f"share {c.replace('votes_', '')}" for c in pairs]]
        rows = []
        for _, k in pd.concat([kab, prov.to_frame().T]).iterrows():
            exp = k["expected"]
            denom = exp if isinstance(exp, float | int) and not pd.isna(exp) and exp > 0 else k["received"]
            total = sum(_num(k[c]) for c in pairs)
            name = "<b>total</b>" if len(k["code"]) == 2 else escape(_region_label(k["code"], k["name"]))
            rows.append([name, _fmt(exp), _fmt(k["received"]),
                         _fmt(k["verified"] / denom if denom else None, pct=True),
                         _fmt(k["needs_review"] / denom if denom else None, pct=True),
                         _fmt(k["missing"] / denom if denom and not pd.isna(k["missing"]) else None, pct=True),
                         *[_fmt(k[c]) for c in pairs],
                         *[_fmt(_num(k[c]) / total if total else None, pct=True) for c in pairs]])
        parts.append(_table(head, rows, numeric=set(range(1, len(head)))))
    return "".join(parts)


def _coverage_section(r: Report) -> str:
    present = set(r.tps["province_code"]) | {c[:2] for c in r.dhasil.get("kecamatan_code", [])}
    cov = r.coverage[r.coverage["region_code"].str[:2].isin(present)]
    types = set(cov.loc[cov["received"] > 0, "form_type"])  # form types this release holds
    cov = cov[cov["form_type"].isin(types)].sort_values(["form_type", "region_code"])
    rows = [[escape(c["form_type"]), escape(c["level"]), escape(_region_label(c["region_code"],
                                                                              c.get(f"{c['level']}_name"))),
             escape(c["unit"]), _fmt(c["expected"]), _fmt(c["received"]), _fmt(c["verified"]),
             _fmt(c["needs_review"]), _fmt(c["not_in_register"]), _fmt(c["received_share"], pct=True),
             _fmt(c["verified_share"], pct=True)] for _, c in cov.iterrows()]
    head = ["form", "level", "region", "unit", "expected", "received", "verified", "needs review",
            "not in register", "received %", "verified %"]
    note = "" if r.meta.get("register") else " <b>No register was used: expected counts are unknown.</b>"
    return (f'<h2 id="coverage">Coverage against the TPS register</h2><p class="muted">Units in the register '
            f"(TPS for C.Hasil, kecamatan for D.Hasil) with a form in this release, for the provinces it "
            f"holds.{note}</p>"
            + _table(head, rows, numeric=set(range(4, 11))))


def _dhasil_section(r: Report, review_url: str) -> str:
    d = r.dhasil
    head = ["kecamatan", "D.Hasil status", "fields matching", "TPS forms / expected", "complete",
            "differences (field: D.Hasil vs sum of C.Hasil)", "desa rows differing"]
    rows = []
    for _, k in d.iterrows():
        diffs = "; ".join(f"{escape(f)}: {_fmt(a)} vs {_fmt(b)} ({_fmt(x)})" for f, a, b, x in k["differences"])
        if diffs:
            diffs = f"<details><summary>{len(k['differences'])} field(s) differ</summary>{diffs}</details>"
        ok = k["matching"] == k["compared"]
        rows.append([_link(review_url, k["kecamatan_code"]) + " " + _fmt(k["kecamatan_name"]),
                     escape(str(k["d_hasil_status"])),
                     f'<span class="{"ok" if ok else "flag"}">{k["matching"]} / {k["compared"]}</span>',
                     f"{k['tps_forms']} / {_fmt(k['tps_expected'])}", "yes" if k["complete"] else "no",
                     diffs or "–", str(k["desa_rows_differing"])])
    intro = ('<h2 id="dhasil">D.Hasil against the sum of its C.Hasil</h2><p class="muted">Kecamatan totals of '
             "each D.Hasil against the sum of the C.Hasil PPWP forms of its TPS in this release (rule 14). "
             "Where not every registered TPS has a form (complete: no), a difference is expected.</p>")
    return intro + (_table(head, rows) if rows else "<p>No D.Hasil in this release.</p>")


def _count(n: int) -> str:
    return f'<span class="{"flag" if n else "ok"}">{n}</span>'


def _screen_table(df: pd.DataFrame, review_url: str, extra: list[tuple[str, str, str]]) -> str:
    """``extra``: (column, header, kind) with kind 'n', 'pct', 'z' or 'text'."""
    if df.empty:
        return '<p class="ok">No TPS.</p>'
    head = ["TPS", "kab/kota", "kecamatan", "status", *[h for _, h, _ in extra]]
    rows = []
    for _, t in df.iterrows():
        cells = [_link(review_url, t["tps_code"]), escape(_region_label(t["kabkota_code"], t.get("kabkota_name"))),
                 escape(_region_label(t["kecamatan_code"], t.get("kecamatan_name"))), escape(str(t["status"]))]
        for col, _, kind in extra:
            v = t[col]
            cells.append(_fmt(v, pct=True) if kind == "pct" else _fmt(v, digits=1) if kind == "z"
                         else escape(str(v)) if kind == "text" else _fmt(v))
        rows.append(cells)
    return _table(head, rows, numeric={i for i, (_, _, k) in enumerate(extra, start=4) if k != "text"})


def _screens_section(r: Report, review_url: str) -> str:
    tps, pairs = r.tps, pair_columns(r.tps)
    flagged_turnout = r.outliers[r.outliers["measure"] == "turnout"]["value"].tolist() if len(r.outliers) else []
    hists = [charts.histogram(tps["turnout"].dropna().tolist(), 0.0, 1.2, 24, "Turnout (B.4 / DPT)",
                              flagged=[*r.turnout_over_dpt["turnout"].tolist(), *flagged_turnout])]
    for c in pairs:
        m = f"share_{c}"
        flagged = r.outliers[r.outliers["measure"] == m]["value"].tolist() if len(r.outliers) else []
        hists.append(charts.histogram(tps[m].dropna().tolist(), 0.0, 1.0, 20,
                                      f"Share of valid votes, {c.replace('votes_', 'paslon ')}", flagged=flagged))
    n_outliers = r.outliers["tps_code"].nunique() if len(r.outliers) else 0
    overall = next((d for d in r.digits if d.level == "release"), None)
    digit_chart = charts.digit_bars(overall.counts, "Last digit of pair votes (>= 10)") if overall else ""
    parts = [
        '<h2 id="screens">Screens</h2><p class="muted">What election analysts look at first. A TPS listed '
        "here is a lead for a steward, not a finding: it may be a misreading, an officer's mistake or a "
        "real local pattern. Links open the form in the review queue. This report changes no status. "
        f"Every screen runs on the one C.Hasil PPWP form per TPS ({len(tps)} TPS), verified or not.</p>",
        '<div class="charts">' + "".join(hists) + digit_chart + "</div>",
        f"<h3>Turnout over 100% of DPT {_count(len(r.turnout_over_dpt))}</h3>"
        "<p class=\"muted\">Voters (B.4, else ballots counted V.C) above the registered voters (A).</p>",
        _screen_table(r.turnout_over_dpt, review_url, [("dpt_total", "DPT", "n"), ("voters_total_total", "voted", "n"),
                                                       ("turnout", "turnout", "pct")]),
        f"<h3>Far out of the kecamatan's pattern {_count(n_outliers)}</h3>"
        f"<p class=\"muted\">Turnout or a pair's share of valid votes with a modified z-score (median and MAD of "
        f"the kecamatan's TPS) beyond {OUTLIER_Z} (kecamatan with at least {OUTLIER_MIN_TPS} TPS).</p>",
        _screen_table(r.outliers, review_url, [("measure", "measure", "text"), ("value", "value", "pct"),
                                               ("kecamatan_median", "kecamatan median", "pct"), ("z", "z", "z")]),
        f"<h3>One pair took 100% {_count(len(r.full_pair))}</h3>",
        _screen_table(r.full_pair, review_url, [("pair", "pair", "text"), ("valid_votes", "valid votes", "n")]),
        f"<h3>Round totals {_count(len(r.round_totals))}</h3>"
        f"<p class=\"muted\">Valid votes and every pair's votes all multiples of {ROUND_TO}.</p>",
        _screen_table(r.round_totals, review_url, [(c, c.replace("votes_", "paslon ").replace("valid_", "valid "),
                                                    "n") for c in ["valid_votes", *pairs]]),
    ]
    drows = [[escape(d.level), escape(_region_label(d.code, d.name)), str(d.n),
              " ".join(str(c) for c in d.counts), f"{d.chi2:.1f}",
              f'<span class="{"flag" if d.flagged else ""}">{d.p:.4f}</span>'] for d in r.digits]
    n_flag = sum(d.flagged for d in r.digits)
    parts += [f"<h3>Last-digit frequencies {_count(n_flag)}</h3>"
              f"<p class=\"muted\">Last digits of pair votes of {LAST_DIGIT_MIN_VOTES} or more should be about "
              f"uniform; chi-square against uniform (9 df) per region with at least {LAST_DIGIT_MIN_N} numbers, "
              f"flagged at p &lt; {LAST_DIGIT_ALPHA}. With many regions, some are flagged by chance.</p>",
              _table(["level", "region", "numbers", "counts of 0..9", "chi²", "p"], drows, numeric={2, 4, 5})
              if drows else "<p>Too few numbers.</p>"]
    return "".join(parts)


def render(r: Report, review_url: str = DEFAULT_REVIEW_URL) -> str:
    tps = r.tps
    n = len(tps)
    verified = int((tps["status"] == "verified").sum())
    expected = r.provinces["expected"].sum(min_count=1)
    kpis = [("TPS with a form", f"{n:,}"), ("verified", f"{verified:,} ({verified / n:.0%})" if n else "0"),
            ("needs review", f"{n - verified:,}"),
            ("TPS in register", "–" if pd.isna(expected) else f"{int(expected):,}"),
            ("TPS listed by a screen", f"{len(set().union(*r.screened_tps().values())):,}")]
    meta = " · ".join(f"{k.replace('_', ' ')}: {escape(str(v))}" for k, v in r.meta.items() if v)
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>pindai results report {escape(r.release_id)}</title><style>{CSS}</style></head><body>"
        f"<h1>Results report · release {escape(r.release_id)}</h1><p class=\"muted\">{meta}</p>"
        + "".join(f'<span class="kpi"><b>{v}</b>{escape(k)}</span>' for k, v in kpis)
        + '<nav><a href="#votes">votes</a><a href="#coverage">coverage</a><a href="#dhasil">D.Hasil</a>'
          '<a href="#screens">screens</a></nav>'
        + _votes_section(r) + _screens_section(r, review_url) + _coverage_section(r)
        + _dhasil_section(r, review_url)
        + "<p class=\"muted\">Generated by <code>pindai report</code> from the release's Parquet tables; "
          "no data leaves this page and nothing in it changes a form's status.</p></body></html>"
    )

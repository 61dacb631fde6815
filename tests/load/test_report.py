"""The results report (``pindai report``): its numbers, its screens on injected anomalies, its speed on
a 1,000-form release, and how it looks in headless Chromium."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import REGISTER, batch, dhasil_values, form, generated_batch, sample_batch

from load.parquet_io import sha256_file
from load.release import publish
from load.report import build_report, chi2_sf, robust_z, write_report
from load.verify import verify_release
from schemas.layout import FormType

ROOT = Path(__file__).resolve().parents[2]
REVIEW = "http://review.test:8700"


def _tree(path: Path) -> dict[str, str]:
    return {p.relative_to(path).as_posix(): sha256_file(p) for p in sorted(path.rglob("*")) if p.is_file()}


def test_chi2_and_robust_z() -> None:
    # textbook critical values: chi-square 9 df at 5% and 1%, 2 df and 1 df at 5%
    for x, k, p in ((16.919, 9, 0.05), (21.666, 9, 0.01), (5.991, 2, 0.05), (3.841, 1, 0.05)):
        assert chi2_sf(x, k) == pytest.approx(p, abs=2e-4)
    assert chi2_sf(0, 9) == 1.0
    vals = pd.Series([0.70, 0.72, 0.74, 0.75, 0.76, 0.78, 0.80, 0.71, 0.20, 0.5])
    z = robust_z(vals, pd.Series(["k"] * 10))
    assert z.iloc[8] < -3.5 and abs(z.iloc[3]) < 1
    assert robust_z(vals[:5], pd.Series(["k"] * 5)).isna().all()  # too few TPS for a pattern


def test_report_numbers_on_the_sample_release(tmp_path: Path) -> None:
    rel = publish(sample_batch(), tmp_path / "rel", release_id="r1", register=REGISTER)
    r = build_report(rel)
    # one PPWP form per TPS: 0101010001001 has a plano and a copy, the plano is taken
    assert len(r.tps) == 6 and r.tps.tps_code.is_unique
    p01 = r.provinces.set_index("code").loc["01"]
    assert (p01.expected, p01.received, p01.verified, p01.needs_review, p01.missing) == (4, 4, 3, 1, 0)
    assert p01.votes_1 == 31 + 32 + 33 + 34  # every received form, as read
    p32 = r.provinces.set_index("code").loc["32"]
    assert (p32.expected, p32.received, p32.missing) == (3, 2, 1)
    d = r.dhasil.set_index("kecamatan_code").loc["010101"]
    assert d.complete and d.matching == d.compared - 1  # the flagged form's +10 valid votes
    assert [f for f, *_ in d.differences] == ["valid_votes"]


@pytest.mark.parametrize("which", ["one form", "no register", "d_hasil only", "nothing"])
def test_report_on_small_and_empty_releases(tmp_path: Path, which: str) -> None:
    forms = {"one form": [form("0101010001001")], "no register": [form("0101010001001"), form("3273010001002")],
             "d_hasil only": [form("010101", FormType.DHASIL_PPWP, values=dhasil_values({1: "0101010001"}))],
             "nothing": []}[which]
    reg = None if which == "no register" else REGISTER
    rel = publish(batch(forms, register=reg), tmp_path / "rel", release_id="r1", register=reg)
    html = write_report(rel, tmp_path / "out").read_text()
    assert not re.search(r"\bnan\b", html, re.IGNORECASE)  # unknown numbers show as a dash
    assert html.startswith("<!DOCTYPE html>") and html.endswith("</html>")
    assert ("No D.Hasil in this release" in html) == (which != "d_hasil only")


def test_report_reads_a_release_of_the_old_layout(tmp_path: Path) -> None:
    rel = publish(sample_batch(), tmp_path / "rel", release_id="old", register=REGISTER)
    for d in list(rel.glob("*/province=p*")):
        d.rename(d.parent / d.name.replace("province=p", "province_code="))
    assert len(build_report(rel).tps) == 6


def _inject(targets: dict[str, str]):
    def edit(code: str, v: dict) -> None:
        kind = targets.get(code)
        if kind == "over_dpt":
            v["voters_total_total"] = v["dpt_total"] + 23
        elif kind == "full_pair":
            v["votes_1"], v["votes_2"], v["votes_3"] = v["valid_votes"], 0, 0
        elif kind == "far_outlier":  # a turnout of a quarter where the kecamatan votes at 60-90%
            v["voters_total_total"] = round(v["dpt_total"] * 0.25)
    return edit


def test_injected_anomalies_are_listed_exactly(tmp_path: Path) -> None:
    """Three TPS of a generated batch get an anomaly each: the screens list exactly those three beyond
    what they listed on the same batch untouched (the generator draws each TPS's shares on its own, so
    a few TPS are far out of their kecamatan's pattern already), each in its screen."""
    clean_batch, reg = generated_batch(400, seed=11)
    clean = build_report(publish(clean_batch, tmp_path / "a", release_id="clean", register=reg))
    before = clean.screened_tps()
    assert not before["turnout_over_dpt"] and not before["full_pair"]
    listed_before = set().union(*before.values())
    t = clean.tps
    pool = t[~t.tps_code.isin(listed_before) & (t.valid_votes % 10 != 0) & t.votes_2.notna()]
    pool = pool[pool.kecamatan_code == t.kecamatan_code.value_counts().index[0]]
    a, b, c = pool.tps_code.iloc[[3, 40, 77]]
    targets = {a: "over_dpt", b: "full_pair", c: "far_outlier"}

    batch_, reg = generated_batch(400, seed=11, edit=_inject(targets))
    rel = publish(batch_, tmp_path / "b", release_id="injected", register=reg)
    r = build_report(rel)
    after = r.screened_tps()
    assert after["turnout_over_dpt"] == {a}
    assert after["full_pair"] == {b}
    assert c in after["outliers"]
    assert after["round_totals"] == before["round_totals"]
    assert set().union(*after.values()) - listed_before == {a, b, c}  # exactly the injected TPS are new
    outl = r.outliers.set_index("tps_code")
    assert "turnout" in set(outl.loc[[c], "measure"])

    before_tree = _tree(rel)
    html = write_report(rel, tmp_path / "out", review_url=REVIEW).read_text()
    for code in (a, b, c):
        assert f'href="{REVIEW}/forms/{code}"' in html
    assert _tree(rel) == before_tree and verify_release(rel).ok  # the report changes nothing


def test_report_on_1000_forms_is_fast_self_contained_and_renders(tmp_path: Path) -> None:
    result, reg = generated_batch(1000, seed=5)
    rel = publish(result, tmp_path / "rel", release_id="b1000", register=reg)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "flows.cli", "report", str(rel), "--out", str(tmp_path / "rep"),
                          "--review-url", REVIEW], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr
    assert seconds < 60, seconds
    page = tmp_path / "rep" / "index.html"
    html = page.read_text()
    assert html.count("<svg") >= 6 and "<script" not in html.lower()
    assert "src=" not in html and "@import" not in html and "url(" not in html  # nothing fetched
    links = [h for h in html.split('href="')[1:] if h.startswith("http")]
    assert links and all(h.startswith(f"{REVIEW}/forms/") for h in links)
    assert "1,000" in html and "BOGOR" in html
    _screenshot(page, tmp_path / "report.png")


def test_report_command_usage_errors(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "flows.cli", "report", str(tmp_path / "none"), "--out",
                          str(tmp_path / "rep")], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 3 and "no release" in out.stderr and not (tmp_path / "rep").exists()


def _screenshot(page: Path, png: Path) -> None:
    """The report in headless Chromium: it renders its charts and tables, and the screenshot is not blank.
    PINDAI_SCREENSHOT_DIR keeps a copy to look at."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (shutil.which("chromium") and Path("/usr/bin/chromedriver").exists()):
        pytest.skip("chromium and chromium-driver are not installed")
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              f"--user-data-dir={png.parent / 'chromium-profile'}", "--window-size=1200,2000"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        driver.get(page.as_uri())
        assert driver.title.startswith("pindai results report")
        sizes = driver.execute_script(
            "return Array.from(document.querySelectorAll('svg')).map(s => s.getBoundingClientRect().width)")
        assert len(sizes) >= 6 and min(sizes) > 100  # every chart laid out
        assert driver.execute_script("return document.querySelectorAll('table tr').length") > 20
        driver.save_screenshot(str(png))
    finally:
        driver.quit()
    from PIL import Image, ImageStat

    img = Image.open(png).convert("L")
    assert img.size[0] >= 1000 and math.sqrt(ImageStat.Stat(img).var[0]) > 20  # not a blank page
    if keep := os.environ.get("PINDAI_SCREENSHOT_DIR"):
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, Path(keep) / "report.png")

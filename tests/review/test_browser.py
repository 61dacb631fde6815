"""The review app in headless Chromium (Selenium, Debian's chromium-driver): a steward signs in and
decides 5 fields by keyboard, a second steward does not get the leased form, a supervisor publishes,
and the new release holds the 5 decisions under the steward's pseudonym. Saves the screenshots
(review-queue.png, review-field.png) in a temporary folder, or in docs/ (the README's pictures) when
PINDAI_SCREENSHOTS=docs: a test run leaves the work tree as it was."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from review_factory import PASSWORD, TRUTH, start_server
from sqlalchemy import func, select

from load.tables import pseudonym
from review import db
from review.db import default_url

ROOT = Path(__file__).resolve().parents[2]
SHOTS = (ROOT / "docs" if os.environ.get("PINDAI_SCREENSHOTS") == "docs"
         else Path(tempfile.mkdtemp(prefix="pindai-shots-")))
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1000", "--hide-scrollbars", "--force-device-scale-factor=1"]

pytestmark = pytest.mark.skipif(CHROMIUM is None or not Path(CHROMEDRIVER).exists(),
                                reason="chromium and chromium-driver are not installed")


@pytest.fixture
def browser():  # noqa: ANN201
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="pindai-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in (*FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(f)
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(60)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


_LAST_PAGE = [lambda: ""]  # the page on screen, for a timeout's message


def _wait(cond, timeout: float = 30, what: str = ""):  # noqa: ANN001, ANN202
    end = time.time() + timeout
    while time.time() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: {_LAST_PAGE[0]()}")


def _sign_in(drv, url: str, name: str) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    _LAST_PAGE[0] = lambda: drv.current_url + " " + drv.page_source[:3000]
    drv.get(url + "/login")
    drv.find_element(By.ID, "name").send_keys(name)
    drv.find_element(By.ID, "password").send_keys(PASSWORD)
    drv.find_element(By.ID, "login-button").click()
    _wait(lambda: drv.find_elements(By.ID, "n-open"), what="the queue page")


def test_stewards_and_supervisor_in_chromium(scanned_release: Path, browser, tmp_path: Path) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    releases = tmp_path / "releases"
    shutil.copytree(scanned_release, releases, symlinks=True)
    users = {"siti": "steward", "budi": "steward", "rina": "supervisor"}
    with start_server(releases, default_url(releases), users) as srv:
        drv = browser
        _sign_in(drv, srv.url, "siti")
        drv.find_element(By.ID, "start").click()
        body = drv.find_element(By.TAG_NAME, "body")
        _wait(lambda: body.get_attribute("data-task-id"), what="the first field")
        crop = drv.find_element(By.ID, "f-crop")
        _wait(lambda: drv.execute_script("return arguments[0].complete && arguments[0].naturalWidth", crop),
              what="the crop")
        assert crop.get_attribute("src").endswith(".png") and "data:" not in crop.get_attribute("src")

        # a bad value is refused with a message and the field stays
        first = body.get_attribute("data-task-id")
        box = drv.find_element(By.ID, "value")
        box.send_keys("12a", Keys.ENTER)
        assert "not a whole number" in drv.find_element(By.ID, "msg").text
        assert body.get_attribute("data-task-id") == first
        box.send_keys(Keys.ESCAPE)

        decided, held_form, shown = [], None, []
        for _ in range(5):
            task = body.get_attribute("data-task-id")
            region, field = body.get_attribute("data-field").split("/")
            held_form = region
            reading = drv.find_element(By.ID, "f-reading").text
            truth = TRUTH[field]
            if reading == str(truth):
                drv.find_element(By.ID, "value").send_keys("c")  # confirm the reading
            else:
                drv.find_element(By.ID, "value").send_keys(str(truth), Keys.ENTER)
            decided.append((region, field, truth))
            t0 = time.perf_counter()
            _wait(lambda t=task: body.get_attribute("data-task-id") != t, 10, "the next field")
            shown.append(time.perf_counter() - t0)
        # prefetched: the next field is on screen without waiting for the server (polling step 50 ms)
        assert sorted(shown)[2] < 0.5, shown
        _wait(lambda: body.get_attribute("data-inflight") == "0", what="the decisions to be saved")
        assert "not saved" not in drv.find_element(By.ID, "msg").text.lower()
        # the field now on screen (a broken rule and its other fields, the bubbles): the README's picture
        _wait(lambda: drv.execute_script("var i = document.getElementById('f-crop'); "
                                         "return i.complete && i.naturalWidth"), what="the next crop")
        time.sleep(0.3)
        drv.save_screenshot(str(SHOTS / "review-field.png"))

        # a second steward does not get the form siti holds
        other, _ = srv.login("budi")
        theirs = other.get("/api/next?limit=20").json()["tasks"]
        assert theirs and all(t["region_code"] != held_form for t in theirs)

        with srv.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(db.decisions)).scalar_one() == 5

        # the supervisor publishes
        drv.get(srv.url + "/")
        drv.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
        _wait(lambda: drv.find_elements(By.ID, "login-form"), what="the sign-in page")
        _sign_in(drv, srv.url, "rina")
        drv.save_screenshot(str(SHOTS / "review-queue.png"))
        drv.find_element(By.ID, "publish").click()
        notice = _wait(lambda: drv.find_elements(By.ID, "notice"), 120, "the publication")[0].text
        assert "published 5 decisions" in notice
        release = releases / notice.split("release ")[-1].strip()
        recs = [json.loads(line) for line in (release / "records.jsonl").read_text().splitlines()]
        got = {(r["region_code"], c["field_id"], c["new"], c["by"]) for r in recs for c in r["corrections"]
               if c["by"] != "auto"}
        assert got == {(r, f, v, pseudonym("siti")) for r, f, v in decided}
        assert "siti" not in (release / "records.jsonl").read_text()
        assert (releases / "latest").resolve() == release.resolve()

"""A batch full of hostile files beside good ones: the batch goes on, every input file is in the
release once with its status and reason, and the good forms are read as if alone."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import pytest
from hostile_inputs import (
    blank_scan,
    image_pdf,
    many_pages_pdf,
    pdf_of_images,
    rotated_180,
    scene_photo,
    zeros_png,
)
from hostile_support import assert_accounted

from schemas.reasons import Reason, Status
from schemas.settings import Settings

GOOD = (Status.VERIFIED.value, Status.NEEDS_REVIEW.value)


def _jpeg(path: Path) -> tuple[bytes, int, int]:
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return cv2.imencode(".jpg", gray)[1].tobytes(), gray.shape[1], gray.shape[0]


@pytest.fixture(scope="module")
def hostile_batch(scans, tmp_path_factory: pytest.TempPathFactory):
    """(input folder, {file: expected (status, reasons) or None for 'read'})."""
    d = tmp_path_factory.mktemp("hostile-batch")
    a, b, c = scans.codes
    expect: dict[str, tuple[str, list[str]] | None] = {}

    def put(name: str, content: bytes | Path, status: str | None = None, *reasons: Reason) -> None:
        path = d / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.read_bytes() if isinstance(content, Path) else content)
        expect[name] = (status, [r.value for r in reasons]) if status else None

    for p in (1, 2, 3):  # form A: one image per page
        put(scans.page(0, p).name, scans.page(0, p))
    put(f"{b}_ppwp.pdf", pdf_of_images([scans.page(1, p) for p in (1, 2, 3)], dpi=200))  # form B: a PDF
    put(f"{c}_ppwp_p1.jpg", rotated_180(scans.page(2, 1)))  # form C: page 1 upside down, page 3 missing
    put(f"{c}_dpr_p2.jpg", scans.page(2, 2), "rejected", Reason.WRONG_FORM_TYPE)
    put(f"again/{scans.page(0, 1).name}", scans.page(0, 1), "rejected", Reason.DUPLICATE_FILE)

    t = "3273010001001"
    put(f"{t}_ppwp_p1.jpg", b"", "rejected", Reason.EMPTY_FILE)
    jpg = scans.page(0, 2).read_bytes()
    put(f"{t}_ppwp_p2.jpg", jpg[: len(jpg) // 3], "rejected", Reason.CORRUPT_IMAGE)
    pdf = pdf_of_images([scans.page(0, 3)])
    put(f"{t}_dpr.pdf", pdf[: len(pdf) // 2], "rejected", Reason.CORRUPT_PDF)
    put(f"{t}_ppwp-salinan.pdf", image_pdf([_jpeg(scans.page(0, 1))], user_pw="x"), "rejected",
        Reason.ENCRYPTED_PDF)
    put("3273010001002_ppwp.pdf", many_pages_pdf(300), "rejected", Reason.TOO_MANY_PAGES)
    put("3273010001002_dpr_p1.png", zeros_png(20000, 12000), "rejected", Reason.TOO_MANY_PIXELS)
    put("3273010001003_ppwp_p1.jpg", b"<html><body>Not Found</body></html>", "rejected",
        Reason.UNSUPPORTED_FORMAT)
    put("3273010001003_ppwp_p2.pdf", b"just text\n", "rejected", Reason.UNSUPPORTED_FORMAT)
    put("3273010001003_ppwp_p3.jpg", scene_photo(5), "rejected", Reason.NO_MARKS)
    put("3273010001004_ppwp_p1.jpg", blank_scan(), "rejected", Reason.BLANK_PAGE)
    put("scan-from-phone.jpg", blank_scan((30, 30)), "rejected", Reason.BAD_NAME)
    put("notes.txt", b"ignored: not a scan")
    del expect["notes.txt"]
    (d / "manifest.csv").write_text("file;tps;jenis\nx.jpg;1;ppwp\n")  # malformed: names are used

    os.mkfifo(d / "3273010001005_ppwp_p1.jpg")
    (d / "3273010001005_ppwp_p2.jpg").symlink_to(d / "gone.jpg")
    (d / "3273010001005_ppwp_p3.jpg").symlink_to("/dev/zero")
    (d / "loop_a.jpg").symlink_to(d / "loop_b.jpg")
    (d / "loop_b.jpg").symlink_to(d / "loop_a.jpg")
    (d / "again" / "up").symlink_to(d, target_is_directory=True)
    for n in ("3273010001005_ppwp_p1.jpg", "3273010001005_ppwp_p2.jpg", "3273010001005_ppwp_p3.jpg",
              "loop_a.jpg", "loop_b.jpg"):
        expect[n] = ("rejected", [Reason.UNREADABLE_FILE.value])
    with open(os.path.join(os.fsencode(d), b"\xffscan.jpg"), "wb") as fh:
        fh.write(b"\xff\xd8\xff")
    expect["\\xffscan.jpg"] = ("rejected", [Reason.BAD_NAME.value])
    return d, expect


def test_hostile_batch_goes_on_and_accounts_for_every_file(hostile_batch, tmp_path: Path, scans, reader) -> None:
    from flows.pipeline import run_pipeline

    src, expect = hostile_batch
    result, release = run_pipeline(src, tmp_path / "releases", Settings(workers=1))
    rows = assert_accounted(release, src)
    assert set(rows) == set(expect)
    for name, want in expect.items():
        got = rows[name]
        if want is None:
            assert got["status"] in GOOD, (name, got)
        else:
            assert (got["status"], got["reasons"]) == want, (name, got)
    # The good forms were read as usual.
    forms = {f.region_code: f for f in result.forms}
    a, b, c = scans.codes
    assert set(forms) == {a, b, c}
    assert Reason.MISSING_PAGE not in forms[a].reasons and Reason.MISSING_PAGE not in forms[b].reasons
    assert Reason.MISSING_PAGE in forms[c].reasons  # page 2 was of the wrong type, page 3 absent
    assert result.warnings and "manifest.csv" in result.warnings[0] and "using file names" in result.warnings[0]
    assert result.ignored_files == ["notes.txt"]
    assert result.skipped_links == ["again/up"]


def test_duplicate_scan_is_read_once(folder, scans, reader) -> None:
    from hostile_support import statuses

    d = folder({scans.page(0, 1).name: scans.page(0, 1), "copy.jpg": scans.page(0, 1)})
    by_name = statuses(d, reader=reader)
    dup = by_name["copy.jpg"]
    assert (dup.status, dup.reasons) == (Status.REJECTED, [Reason.DUPLICATE_FILE])
    assert dup.detail == f"same bytes as {scans.page(0, 1).name}"
    assert by_name[scans.page(0, 1).name].status.value in GOOD


def test_of_identical_files_the_well_named_one_is_read(folder, scans, reader) -> None:
    """A badly named copy that sorts first must not cost the form its page: the copy whose identity
    is known is read, the bad one points to it (issue 25)."""
    from hostile_support import statuses

    good = scans.page(0, 2).name  # <tps>_ppwp_p2.jpg
    bad = "-rf_ppwp_p2.jpg"  # '-' sorts before the digits
    assert sorted([good, bad])[0] == bad
    d = folder({good: scans.page(0, 2), bad: scans.page(0, 2)})
    by_name = statuses(d, reader=reader)
    assert by_name[good].status.value in GOOD, by_name[good]
    dup = by_name[bad]
    assert (dup.status, dup.reasons) == (Status.REJECTED, [Reason.DUPLICATE_FILE])
    assert dup.detail == f"same bytes as {good}"


def test_of_identical_files_one_in_the_manifest_is_read(folder, scans) -> None:
    from extract.plan import plan_batch

    src = scans.page(1, 1)
    d = folder({"a-copy.jpg": src, "z-named-in-manifest.jpg": src})
    (d / "manifest.csv").write_text(f"file,tps_code,form_type,page\nz-named-in-manifest.jpg,{scans.codes[1]},ppwp,1\n")
    plan = plan_batch(d)
    assert [i.rel_path for i in plan.items] == ["z-named-in-manifest.jpg"]
    (dup,) = plan.settled
    assert (dup.file.rel_path, dup.failure, dup.detail) == (
        "a-copy.jpg", Reason.DUPLICATE_FILE, "same bytes as z-named-in-manifest.jpg")

"""One hostile file at a time: each ends rejected or failed with an enumerated reason and a
one-line detail (or, for pages that are merely awkward, is read), and nothing hangs or crashes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import pytest
from hostile_inputs import (
    blank_pdf,
    blank_scan,
    image_pdf,
    jpeg_claiming,
    many_pages_pdf,
    pdf_of_images,
    rotated_180,
    scene_photo,
    tiff_pages,
    zeros_png,
)
from hostile_support import statuses

import extract.decode
from schemas.reasons import Reason, Status
from schemas.settings import Settings

TPS = "3271021002026"
NAME = f"{TPS}_ppwp_p1"


def one(folder, reader, name: str, content: bytes | Path, settings: Settings | None = None):
    d = folder({name: content})
    (st,) = statuses(d, settings, reader).values()
    return st


def _rejected(st, reason: Reason, status: Status = Status.REJECTED) -> None:
    assert st.status is status and st.reasons == [reason], (st.status, st.reasons, st.detail)


def _jpeg(path: Path) -> tuple[bytes, int, int]:
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return cv2.imencode(".jpg", gray)[1].tobytes(), gray.shape[1], gray.shape[0]


# --------------------------------------------------------------------------- empty, truncated, not an image

def test_zero_byte_file(folder, reader) -> None:
    st = one(folder, reader, f"{NAME}.jpg", b"")
    _rejected(st, Reason.EMPTY_FILE)
    assert st.detail == "0 bytes"


@pytest.mark.parametrize("ext", ["jpg", "png"])
@pytest.mark.parametrize("keep", [0.5, 0.97])
def test_truncated_image(folder, reader, scans, ext: str, keep: float) -> None:
    gray = cv2.imread(str(scans.page(0, 1)), cv2.IMREAD_GRAYSCALE)
    data = cv2.imencode(f".{ext}", gray)[1].tobytes()
    st = one(folder, reader, f"{NAME}.{ext}", data[: int(len(data) * keep)])
    _rejected(st, Reason.CORRUPT_IMAGE)


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_pdf(folder, reader, scans, keep: float) -> None:
    data = pdf_of_images([scans.page(0, 1)])
    st = one(folder, reader, f"{TPS}_ppwp.pdf", data[: int(len(data) * keep)])
    _rejected(st, Reason.CORRUPT_PDF)
    assert "xref" in st.detail or "trailer" in st.detail  # what poppler said, on one line


@pytest.mark.parametrize(("name", "content", "reason"), [
    (f"{NAME}.jpg", b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n", Reason.UNSUPPORTED_FORMAT),
    (f"{TPS}_ppwp.pdf", b"<html><head><title>Login</title></head><body>session expired</body></html>",
     Reason.UNSUPPORTED_FORMAT),
    (f"{TPS}_ppwp.pdf", b"Formulir C.Hasil: lihat lampiran.\n" * 50, Reason.UNSUPPORTED_FORMAT),
    # An HTML page that mentions "%PDF-" is taken for a PDF by its magic: poppler then refuses it.
    (f"{TPS}_ppwp.pdf", b"<html><body>a %PDF-1.7 file was expected</body></html>", Reason.CORRUPT_PDF),
    (f"{NAME}.png", b"\x89PNG\r\n\x1a\n" + os.urandom(64), Reason.CORRUPT_IMAGE),
])
def test_not_an_image(folder, reader, name: str, content: bytes, reason: Reason) -> None:
    _rejected(one(folder, reader, name, content), reason)


# --------------------------------------------------------------------------- encrypted PDFs

def test_pdf_with_a_user_password_is_refused(folder, reader, scans) -> None:
    data = image_pdf([_jpeg(scans.page(0, 1))], dpi=200, user_pw="rahasia", owner_pw="kpu")
    st = one(folder, reader, f"{scans.codes[0]}_ppwp.pdf", data)
    _rejected(st, Reason.ENCRYPTED_PDF)
    assert st.detail == "the PDF needs a password"


def test_pdf_encrypted_without_a_user_password_is_read(folder, reader, scans) -> None:
    """Like the official templates: an owner password only restricts copying; poppler renders it."""
    code = scans.codes[0]
    data = image_pdf([_jpeg(scans.page(0, p)) for p in (1, 2, 3)], dpi=200, owner_pw="kpu")
    assert b"/Encrypt" in data
    st = one(folder, reader, f"{code}_ppwp.pdf", data)
    assert st.status in (Status.VERIFIED, Status.NEEDS_REVIEW), (st.status, st.reasons, st.detail)
    assert st.pages == 3 and Reason.MISSING_PAGE not in st.reasons


# --------------------------------------------------------------------------- limits: pages and pixels

def _count_rasterised(monkeypatch) -> list[int]:
    """Spy (the real function still runs) on how many pages poppler is asked to rasterise."""
    calls: list[int] = []
    real = extract.decode.rasterize_page

    def spy(path, page, dpi, **kw):
        calls.append(page)
        return real(path, page, dpi, **kw)

    monkeypatch.setattr(extract.decode, "rasterize_page", spy)
    return calls


def test_pdf_with_hundreds_of_pages_is_refused_without_rasterising(folder, reader, monkeypatch) -> None:
    calls = _count_rasterised(monkeypatch)
    d = folder({f"{TPS}_ppwp.pdf": many_pages_pdf(600)})
    t0 = time.perf_counter()
    (st,) = statuses(d, reader=reader).values()
    assert time.perf_counter() - t0 < 3
    _rejected(st, Reason.TOO_MANY_PAGES)
    assert st.detail == "600 pages > 50"
    assert calls == []


@pytest.mark.parametrize(("make", "expect"), [
    (lambda: zeros_png(20000, 12000), "20000x12000 = 240 MP > 120 MP"),  # a real PNG: 30 kB, 240 MP
    (lambda: jpeg_claiming(60000, 60000), "60000x60000 = 3600 MP > 120 MP"),
    (lambda: tiff_pages([(100, 100), (12000, 20000)]), "page 2: 20000x12000 = 240 MP > 120 MP"),
])
def test_decompression_bombs_are_refused_from_the_header(folder, reader, make, expect: str) -> None:
    data = make()
    assert len(data) < 100_000
    t0 = time.perf_counter()
    st = one(folder, reader, f"{NAME}.png", data)
    assert time.perf_counter() - t0 < 3
    _rejected(st, Reason.TOO_MANY_PIXELS)
    assert st.detail == expect


def test_tiff_with_too_many_pages(folder, reader) -> None:
    st = one(folder, reader, f"{NAME}.tif", tiff_pages([(20, 20)] * 60))
    _rejected(st, Reason.TOO_MANY_PAGES)
    assert st.detail == "TIFF has more than 50 pages"


def test_pdf_page_that_would_rasterise_to_hundreds_of_megapixels(folder, reader, monkeypatch) -> None:
    """Pages are rasterised as wide as A4 at 150 dpi: a 1.4 pt x 200 in strip would be 222 MP."""
    calls = _count_rasterised(monkeypatch)
    st = one(folder, reader, f"{TPS}_ppwp.pdf", blank_pdf([(595, 842), (100, 14400)]))
    _rejected(st, Reason.TOO_MANY_PIXELS)
    assert st.detail.startswith("page 2 (100 x 14400 pt) would render to 222 MP")
    assert calls == []  # refused before page 1 was rasterised


def test_huge_pdf_pages_are_rendered_at_their_own_small_resolution(folder, reader, monkeypatch) -> None:
    """20000 x 20000 pt (7 m square): rendered A4-wide (1240 px), never at page 1's 150 dpi
    (41667 px square, 1.7 gigapixels: the bomb this guards against)."""
    calls = _count_rasterised(monkeypatch)
    t0 = time.perf_counter()
    st = one(folder, reader, f"{TPS}_ppwp.pdf", blank_pdf([(595, 842), (20000, 20000)]))
    assert time.perf_counter() - t0 < 10
    assert calls == [1, 2]
    assert st.status is Status.REJECTED and set(st.reasons) <= {Reason.BLANK_PAGE, Reason.NO_MARKS}, st


def test_media_box_bomb_behind_an_a4_crop_box(folder, reader) -> None:
    """pdfinfo reports the crop box (A4); pdftoppm rendered the media box (20000 pt square at
    150 dpi: 1.7 gigapixels, a timeout at best) until it was told ``-cropbox``."""
    data = blank_pdf([(20000, 20000)]).replace(b"/MediaBox", b"/CropBox [0 0 595 842] /MediaBox")
    t0 = time.perf_counter()
    st = one(folder, reader, f"{TPS}_ppwp.pdf", data)
    assert time.perf_counter() - t0 < 5
    assert st.status is Status.REJECTED and st.reasons in ([Reason.NO_MARKS], [Reason.BLANK_PAGE]), st


def test_rotated_pdf_pages_are_sized_as_rendered(tmp_path: Path) -> None:
    from extract._exec.pdftoppm import pdf_info
    from extract.decode import decode_file

    p = tmp_path / "rot.pdf"
    # A4 turned to landscape; a 1.4 pt x 200 in strip turned on its side (harmless: 1240 x 9 px).
    p.write_bytes(blank_pdf([(595, 842), (100, 14400)], rotate=[90, 270]))
    info = pdf_info(p, max_pages=5)
    assert info.page_sizes_pt == ((842.0, 595.0), (14400.0, 100.0))
    pages = list(decode_file(p, Settings().limits, Settings().read))
    assert [pg.gray.shape[1] for pg in pages] == [pytest.approx(1241, abs=2)] * 2


def test_huge_file_is_refused_without_being_read(folder, reader, monkeypatch) -> None:
    monkeypatch.setenv("PINDAI_MAX_FILE_BYTES", "1000")
    d = folder({f"{NAME}.jpg": b"\xff\xd8\xff" + b"\x00" * 5000})
    import extract.ingest

    monkeypatch.setattr(extract.ingest, "sha256_file", lambda p: pytest.fail(f"{p} was read"))
    (st,) = statuses(d, Settings.from_env(workers=1), reader).values()
    _rejected(st, Reason.FILE_TOO_LARGE)
    assert st.detail == "5,003 bytes > 1,000"


# --------------------------------------------------------------------------- pictures that are not (readable) forms

def test_photo_with_no_form(folder, reader) -> None:
    st = one(folder, reader, f"{NAME}.jpg", scene_photo(3))
    assert st.status is Status.REJECTED and st.reasons in ([Reason.NO_MARKS], [Reason.UNKNOWN_PAGE]), st


def test_blank_page(folder, reader) -> None:
    _rejected(one(folder, reader, f"{NAME}.jpg", blank_scan()), Reason.BLANK_PAGE)


def test_upside_down_page_is_still_read(folder, reader, scans) -> None:
    from extract.plan import plan_batch
    from extract.process import process_file

    src = scans.page(1, 2)
    regs = []
    for content in (src, rotated_180(src)):
        (item,) = plan_batch(folder({src.name: content})).items
        oc = process_file(item, Settings(workers=1), reader)
        assert oc.failure is None and not oc.rejected_pages and len(oc.pages) == 1, oc
        regs.append(oc.pages[0])
    assert regs[1].registration.page == 2
    assert (regs[1].registration.rotation - regs[0].registration.rotation) % 360 == 180
    assert [f.value for f in regs[1].fields] == [f.value for f in regs[0].fields]
    st = one(folder, reader, src.name, rotated_180(src))
    assert st.status is not Status.REJECTED and Reason.MISSING_PAGE in st.reasons  # pages 1 and 3 absent


def test_page_of_another_form_type(folder, reader, scans) -> None:
    st = one(folder, reader, f"{scans.codes[0]}_dpr_p1.jpg", scans.page(0, 1))
    _rejected(st, Reason.WRONG_FORM_TYPE)
    assert st.detail == "page 1: " + Reason.WRONG_FORM_TYPE.message


# --------------------------------------------------------------------------- things that are not regular files

def test_fifo_does_not_hang_the_batch(folder, reader) -> None:
    d = folder({})
    os.mkfifo(d / f"{NAME}.jpg")
    (st,) = statuses(d, reader=reader).values()
    _rejected(st, Reason.UNREADABLE_FILE)
    assert st.detail == "not a regular file: a named pipe (FIFO)"
    assert st.region_code == TPS  # counted under the TPS its name claims


def test_file_swapped_for_a_fifo_after_planning(folder, reader, scans) -> None:
    from extract.plan import plan_batch
    from extract.process import process_file

    d = folder({scans.page(0, 1).name: scans.page(0, 1)})
    (item,) = plan_batch(d).items
    Path(item.path).unlink()
    os.mkfifo(item.path)
    t0 = time.perf_counter()
    oc = process_file(item, Settings(workers=1), reader)
    assert time.perf_counter() - t0 < 2
    assert (oc.failure, oc.detail) == (Reason.UNREADABLE_FILE, "not a regular file")


@pytest.mark.parametrize(("target", "detail"), [
    ("nowhere.jpg", "No such file or directory"),
    ("/dev/zero", "not a regular file: a character device"),  # would never end
])
def test_symlinks_to_nothing_or_to_devices(folder, reader, target: str, detail: str) -> None:
    d = folder({})
    (d / f"{NAME}.jpg").symlink_to(target if target.startswith("/") else d / target)
    (st,) = statuses(d, reader=reader).values()
    _rejected(st, Reason.UNREADABLE_FILE)
    assert st.detail == detail


def test_symlink_loops(folder, reader, scans) -> None:
    d = folder({scans.page(0, 1).name: scans.page(0, 1)})
    (d / "a.jpg").symlink_to(d / "b.jpg")
    (d / "b.jpg").symlink_to(d / "a.jpg")
    (d / "sub").mkdir()
    (d / "sub" / "up").symlink_to(d, target_is_directory=True)  # a folder loop: not followed
    by_name = statuses(d, reader=reader)
    assert set(by_name) == {"a.jpg", "b.jpg", scans.page(0, 1).name}
    for n in ("a.jpg", "b.jpg"):
        _rejected(by_name[n], Reason.UNREADABLE_FILE)
        assert by_name[n].detail == "Too many levels of symbolic links"
    assert by_name[scans.page(0, 1).name].status is not Status.REJECTED


def test_unreadable_file(folder, reader, scans) -> None:
    """chmod 000: refused for a normal user. Root reads any file, so there the file is simply read
    (the truly unreadable cases as root are FIFOs, devices and broken links, tested above)."""
    d = folder({scans.page(0, 1).name: scans.page(0, 1)})
    path = d / scans.page(0, 1).name
    path.chmod(0)
    try:
        (st,) = statuses(d, reader=reader).values()
    finally:
        path.chmod(0o644)
    if os.geteuid() == 0:
        assert st.status is not Status.REJECTED
    else:
        _rejected(st, Reason.UNREADABLE_FILE)
        assert st.detail == "Permission denied"


def test_file_name_that_is_not_utf8(folder, reader) -> None:
    d = folder({})
    with open(os.path.join(os.fsencode(d), b"scan\xff\xfe.jpg"), "wb") as fh:
        fh.write(blank_scan((50, 50)))
    (st,) = statuses(d, reader=reader).values()
    assert st.file == "scan\\xff\\xfe.jpg"
    _rejected(st, Reason.BAD_NAME)


def test_file_name_with_a_newline_keeps_the_detail_on_one_line(folder, reader) -> None:
    st = one(folder, reader, "scan\n2.jpg", b"x")
    _rejected(st, Reason.BAD_NAME)
    assert st.file == "scan\n2.jpg" and "'scan\\n2.jpg'" in st.detail

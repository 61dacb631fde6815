from pathlib import Path

import cv2
import numpy as np
import pytest

from extract.decode import DecodeError, decode_file, pdf_dpi
from schemas.reasons import Reason
from schemas.settings import Limits, ReadSettings


def _pages(path: Path, **limits: int) -> list:
    return list(decode_file(path, Limits(**limits), ReadSettings()))


def _jpeg(shape: tuple[int, int] = (400, 300)) -> bytes:
    img = np.full(shape, 255, np.uint8)
    cv2.rectangle(img, (20, 20), (100, 100), 0, -1)
    return cv2.imencode(".jpg", img)[1].tobytes()


def test_decodes_jpeg_and_png_by_content_not_extension(tmp_path: Path) -> None:
    p = tmp_path / "x.png"  # JPEG bytes under a .png name
    p.write_bytes(_jpeg())
    (page,) = _pages(p)
    assert page.gray.shape == (400, 300) and page.scale == 1.0


def test_large_photos_are_decoded_reduced(tmp_path: Path) -> None:
    p = tmp_path / "big.jpg"
    p.write_bytes(_jpeg((4000, 3000)))
    (page,) = _pages(p)
    assert page.gray.shape == (2000, 1500) and page.scale == 0.5


@pytest.mark.parametrize(("content", "reason"), [
    (b"", Reason.EMPTY_FILE),
    (b"<html><body>not a scan</body></html>", Reason.UNSUPPORTED_FORMAT),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 20, Reason.CORRUPT_IMAGE),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, Reason.CORRUPT_IMAGE),
])
def test_bad_content_has_a_reason(tmp_path: Path, content: bytes, reason: Reason) -> None:
    p = tmp_path / "bad.jpg"
    p.write_bytes(content)
    with pytest.raises(DecodeError) as err:
        _pages(p)
    assert err.value.reason is reason


def test_truncated_jpeg_is_rejected(tmp_path: Path) -> None:
    data = _jpeg()
    p = tmp_path / "t.jpg"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError) as err:
        _pages(p)
    assert err.value.reason is Reason.CORRUPT_IMAGE


def test_pixel_limit_applies_before_decoding(tmp_path: Path) -> None:
    p = tmp_path / "bomb.png"
    p.write_bytes(cv2.imencode(".png", np.zeros((3000, 3000), np.uint8))[1].tobytes())
    with pytest.raises(DecodeError) as err:
        _pages(p, max_pixels=1_000_000)
    assert err.value.reason is Reason.TOO_MANY_PIXELS


def test_file_size_limit(tmp_path: Path) -> None:
    p = tmp_path / "x.jpg"
    p.write_bytes(_jpeg())
    with pytest.raises(DecodeError) as err:
        _pages(p, max_file_bytes=100)
    assert err.value.reason is Reason.FILE_TOO_LARGE


def test_pdf_pages_are_rasterised_at_a4_equivalent_resolution(tmp_path: Path) -> None:
    from PIL import Image

    p = tmp_path / "two pages; $(rm -rf x) .pdf"
    imgs = [Image.new("L", (595, 842), 255), Image.new("L", (595, 842), 200)]
    imgs[0].save(p, save_all=True, append_images=imgs[1:], resolution=72)
    pages = _pages(p)
    assert [pg.index for pg in pages] == [0, 1]
    assert abs(pages[0].gray.shape[1] - 595 / 72 * pdf_dpi(595, ReadSettings())) <= 2


def test_corrupt_and_too_long_pdfs(tmp_path: Path) -> None:
    from PIL import Image

    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4\n garbage garbage")
    with pytest.raises(DecodeError) as err:
        _pages(bad)
    assert err.value.reason is Reason.CORRUPT_PDF
    long = tmp_path / "long.pdf"
    page = Image.new("L", (50, 50), 255)
    page.save(long, save_all=True, append_images=[page] * 5)
    with pytest.raises(DecodeError) as err:
        _pages(long, max_pdf_pages=3)
    assert err.value.reason is Reason.TOO_MANY_PAGES

"""Limits have safe defaults and are configurable from the environment (PINDAI_<NAME>)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_inputs import pdf_of_images
from hostile_support import statuses

from schemas.reasons import Reason, Status
from schemas.settings import Limits, Settings


def test_safe_defaults() -> None:
    lim = Limits()
    assert lim.max_file_bytes == 200 * 1024 * 1024
    assert lim.max_pixels == 120_000_000  # a 600 dpi A3 scan is ~70 MP; 200+ MP is refused
    assert lim.max_pdf_pages == 50
    assert 0 < lim.pdftoppm_timeout_s <= 120 and 0 < lim.tesseract_timeout_s <= 60


def test_env_overrides_every_limit(monkeypatch) -> None:
    monkeypatch.setenv("PINDAI_MAX_FILE_BYTES", "1000")
    monkeypatch.setenv("PINDAI_MAX_PIXELS", "2000000")
    monkeypatch.setenv("PINDAI_MAX_PDF_PAGES", "2")
    monkeypatch.setenv("PINDAI_PDFTOPPM_TIMEOUT_S", "1.5")
    monkeypatch.setenv("PINDAI_TESSERACT_TIMEOUT_S", "2.5")
    lim = Settings.from_env().limits
    assert (lim.max_file_bytes, lim.max_pixels, lim.max_pdf_pages) == (1000, 2_000_000, 2)
    assert (lim.pdftoppm_timeout_s, lim.tesseract_timeout_s) == (1.5, 2.5)


def _one_pdf(folder, scans, pages: int) -> Path:
    return folder({f"{scans.codes[0]}_ppwp.pdf": pdf_of_images([scans.page(0, p) for p in range(1, pages + 1)],
                                                              dpi=200)})


def test_env_pixel_limit_applies_to_images_and_pdf_pages(folder, scans, reader, monkeypatch) -> None:
    monkeypatch.setenv("PINDAI_MAX_PIXELS", "1000000")
    settings = Settings.from_env(workers=1)
    d = folder({scans.page(0, 1).name: scans.page(0, 1)})
    (st,) = statuses(d, settings, reader).values()
    assert (st.status, st.reasons) == (Status.REJECTED, [Reason.TOO_MANY_PIXELS])
    assert st.detail.endswith("MP > 1 MP")
    (st,) = statuses(_one_pdf(folder, scans, 1), settings, reader).values()
    assert (st.status, st.reasons) == (Status.REJECTED, [Reason.TOO_MANY_PIXELS])


def test_env_page_limit(folder, scans, reader, monkeypatch) -> None:
    monkeypatch.setenv("PINDAI_MAX_PDF_PAGES", "2")
    (st,) = statuses(_one_pdf(folder, scans, 3), Settings.from_env(workers=1), reader).values()
    assert (st.status, st.reasons, st.detail) == (Status.REJECTED, [Reason.TOO_MANY_PAGES], "3 pages > 2")


def test_env_tool_timeout_fails_the_file_not_the_batch(folder, scans, reader, monkeypatch) -> None:
    """A tool that runs out of time is ``failed`` (retried on the next run, never cached)."""
    monkeypatch.setenv("PINDAI_PDFTOPPM_TIMEOUT_S", "0.001")
    d = _one_pdf(folder, scans, 1)
    (d / scans.page(1, 1).name).write_bytes(scans.page(1, 1).read_bytes())
    by_name = statuses(d, Settings.from_env(workers=1), reader)
    pdf = by_name[f"{scans.codes[0]}_ppwp.pdf"]
    assert (pdf.status, pdf.reasons) == (Status.FAILED, [Reason.TOOL_TIMEOUT])
    assert pdf.detail == "timed out after 0.001 s"
    assert by_name[scans.page(1, 1).name].status in (Status.VERIFIED, Status.NEEDS_REVIEW)


@pytest.mark.parametrize("var", ["PINDAI_TESSERACT_TIMEOUT_S"])
def test_header_ocr_timeout_loses_only_the_cross_check(folder, scans, reader, monkeypatch, var: str) -> None:
    from extract.plan import plan_batch
    from extract.process import process_chunk

    monkeypatch.setenv(var, "0.001")
    d = folder({scans.page(0, 1).name: scans.page(0, 1)})
    (oc,) = process_chunk(plan_batch(d).items, Settings.from_env(workers=1))
    assert oc.failure is None and len(oc.pages) == 1 and oc.pages[0].header_text == {}

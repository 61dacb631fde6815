"""Pages of two polling stations in one PDF, named as one of them.

Two ways to notice: a page scanned twice with different numbers (R12, no OCR needed), and the
printed header's TPS number (header OCR, checked in transform.validate.identity_results)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_inputs import pdf_of_images

from schemas.reasons import Reason, Status
from schemas.settings import Settings
from transform.rules import sure_enough_to_compare


def _run(folder, name: str, pages: list[Path]):
    from extract.plan import plan_batch
    from extract.process import process_chunk
    from transform.validate import validate_batch

    d = folder({name: pdf_of_images(pages, dpi=200)})
    outcomes = process_chunk(plan_batch(d).items, Settings(workers=1))  # with header OCR
    forms, files = validate_batch(outcomes)
    (form,), (st,) = forms, files
    return outcomes[0], form, st


def test_both_forms_in_one_pdf_disagree_on_every_page(folder, scans, reader) -> None:
    a, b = scans.codes[:2]
    pages = [scans.page(0, p) for p in (1, 2, 3)] + [scans.page(1, p) for p in (1, 2, 3)]
    oc, form, st = _run(folder, f"{a}_ppwp.pdf", pages)
    assert len(oc.pages) == 6
    assert form.status is Status.NEEDS_REVIEW and st.status is Status.NEEDS_REVIEW
    sure = [sum(sure_enough_to_compare(f) for f in p.fields) for p in oc.pages]
    if not all(sure[:3]) or not all(sure[3:]):
        pytest.xfail(f"the digit reader is sure of no field on some page ({sure}): R12 has nothing to compare")
    assert Reason.DUPLICATE_PAGE_CONFLICT in form.reasons, form.reasons
    assert {i.rule_id for i in form.issues if i.rule_id.startswith("R12")}


def test_foreign_page_is_flagged_by_its_printed_header(folder, scans, reader) -> None:
    a = scans.codes[0]
    pages = [scans.page(0, 1), scans.page(0, 2), scans.page(1, 3)]  # page 3 of another TPS
    oc, form, st = _run(folder, f"{a}_ppwp.pdf", pages)
    assert len(oc.pages) == 3 and oc.failure is None
    read = [p.header_text.get("tps_number", "") for p in oc.pages]
    if not any(read):
        pytest.xfail("header OCR read no TPS number on these scans: the identity cross-check has "
                     "nothing to compare (extract/header.py)")
    assert Reason.IDENTITY_MISMATCH in form.reasons, (read, form.reasons)
    assert form.status is not Status.VERIFIED
    assert any(i.rule_id == "ID.tps_number" and i.message_en.startswith("Page 3") for i in form.issues)


def test_header_names_are_read_only_with_a_register(folder, scans, reader, monkeypatch) -> None:
    """The kecamatan and desa names are compared only with a register's names, and they are most
    of the header OCR's cost: without a register only the TPS number is read."""
    import extract.process as process
    from extract.plan import plan_batch
    from flows.pipeline import reading_settings
    from schemas.register import mini_register

    seen: list[set[str]] = []
    real = process.read_headers

    def spy(pages, timeout=20.0, typed_numbers=None):
        seen.extend(set(p) for p in pages)
        return real(pages, timeout, typed_numbers)

    monkeypatch.setattr(process, "read_headers", spy)
    d = folder({scans.page(0, 1).name: scans.page(0, 1)})
    for register, fields in ((None, {"tps_number"}), (mini_register(), {"kecamatan", "desa", "tps_number"})):
        seen.clear()
        settings = reading_settings(Settings(workers=1), register is not None)
        assert settings.read.header_names is (register is not None)
        process.process_chunk(plan_batch(d).items, settings)
        assert seen == [fields]

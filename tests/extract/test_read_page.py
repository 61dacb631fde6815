"""Reading a registered page: every field of the layout, digit boxes in one batch, bubbles."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from extract.decode import decode_file
from extract.digits import DigitReader
from extract.read_page import read_fields
from extract.register import register_page
from schemas.layout import load_layout
from schemas.records import CLASS_BLANK, CLASS_NODIGIT, FieldReading
from schemas.settings import Limits, ReadSettings
from tests.conftest import shared_path


def _read_blank_photo() -> list[FieldReading]:
    photo = shared_path("forms", "photo-blank-plano-page2.jpeg")
    page = next(decode_file(Path(photo), Limits(), ReadSettings()))
    reg = register_page(page.gray)
    assert (reg.form_type.value, reg.page, reg.method) == ("ppwp", 2, "tag+marks")
    return read_fields(page.gray, np.asarray(reg.homography), load_layout("ppwp").pages[1], DigitReader())


def test_real_phone_photo_of_a_blank_plano_is_never_read_confidently() -> None:
    """The safety property: no bubble is read on a blank form, and any field holding a box not read
    as blank is flagged unsure (so the form can never be verified with a number on it)."""
    fields = _read_blank_photo()
    assert [f.field_id for f in fields] == ["votes_1", "votes_2", "votes_3"]
    for f in fields:
        assert f.bubble_value is None  # no bubble blackened
        if f.value is not None or any(d.top not in (CLASS_BLANK, CLASS_NODIGIT) for d in f.digits):
            assert f.unsure or f.malformed, f"{f.field_id} read {f.value} confidently on a blank form"
            assert f.confidence < 0.9


def test_real_phone_photo_of_a_blank_plano_reads_every_box_blank() -> None:
    """The network alone reads this photo's faint dotted guide (24-px boxes) as '1' or '0' at
    p 0.4-0.6; the ink evidence (``extract.digits.with_ink_evidence``) settles it."""
    for f in _read_blank_photo():
        assert f.value is None, f"{f.field_id} read {f.value} on a blank form"
        assert all(d.top in (CLASS_BLANK, CLASS_NODIGIT) for d in f.digits), f.field_id

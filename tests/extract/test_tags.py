"""The tag pre-filter: largest candidates first, and the search stops at the page's tag."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import extract.tags as tags
from schemas.layout import FormType, load_layout


class _Counting:
    """Wraps the crop detector to count the candidates actually decoded."""

    def __init__(self, inner: cv2.aruco.ArucoDetector) -> None:
        self.inner, self.calls = inner, 0

    def detectMarkers(self, img: np.ndarray):  # noqa: N802 -- OpenCV's name
        self.calls += 1
        return self.inner.detectMarkers(img)


def _scan_page() -> np.ndarray:
    """PPWP page 2 filled in by a stroke writer (every box and bubble column inked: candidates
    for the pre-filter), through the generator's scan model."""
    render = pytest.importorskip("synth.render")
    degrade = pytest.importorskip("synth.degrade")
    from synth.fill import box_contents, bubble_choice, fill_page
    from synth.handwriting import make_writer

    page = load_layout(FormType.PPWP).pages[1]
    rng = np.random.default_rng(3)
    plan = degrade.plan("scan", rng, page.width, page.height)
    canvas = np.array(render.render_page(page, plan.ppu), np.uint8, copy=True)
    writer = make_writer(rng, None)
    boxes = {f.id: box_contents(int(rng.integers(0, 10 ** len(f.boxes))), len(f.boxes), writer.lead)
             for f in page.fields}
    bubbles = {f.id: bubble_choice(boxes[f.id], writer.bubble_lead) for f in page.fields if f.bubbles}
    fill_page(canvas, page, plan.ppu, boxes, bubbles, writer, rng)
    out = degrade.apply(canvas, plan, rng)
    return out.image if out.image.ndim == 2 else cv2.cvtColor(out.image, cv2.COLOR_RGB2GRAY)


def test_search_stops_at_the_page_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    gray = _scan_page()
    page_tag = load_layout(FormType.PPWP).pages[1].tag
    assert page_tag is not None
    counting = _Counting(tags._detector())
    monkeypatch.setattr(tags, "_detector", lambda: counting)

    everything = tags.detect_tags(gray)
    decoded_all = counting.calls
    counting.calls = 0
    first = tags.detect_tags(gray, stop_ids=frozenset({page_tag.id}))

    assert [t.id for t in everything] == [page_tag.id]
    assert [t.id for t in first] == [page_tag.id]
    np.testing.assert_allclose(first[0].corners, everything[0].corners)
    assert decoded_all > 3  # the handwriting gives the pre-filter candidates
    assert counting.calls == 1, f"decoded {counting.calls} candidates (all: {decoded_all})"


def test_unknown_ids_do_not_stop_the_search(monkeypatch: pytest.MonkeyPatch) -> None:
    gray = _scan_page()
    page_tag = load_layout(FormType.PPWP).pages[1].tag
    assert page_tag is not None
    found = tags.detect_tags(gray, stop_ids=frozenset({page_tag.id + 1000}))
    assert [t.id for t in found] == [page_tag.id]

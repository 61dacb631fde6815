"""The tag pre-filter: largest candidates first, and the search stops at the page's tag."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import extract.tags as tags
from schemas.layout import FormType, load_layout


class _Counting:
    """Wraps the crop detectors to count the candidates actually decoded."""

    def __init__(self) -> None:
        self.calls = 0
        self._real = tags._detector

    def __call__(self, ids=None):  # noqa: ANN001, ANN204 -- stands in for tags._detector
        outer, inner = self, self._real(ids)

        class _Det:
            def detectMarkers(self, img: np.ndarray):  # noqa: N802 -- OpenCV's name
                outer.calls += 1
                return inner.detectMarkers(img)

        return _Det()


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
    counting = _Counting()
    monkeypatch.setattr(tags, "_detector", counting)

    everything = tags.detect_tags(gray)  # every 36h10 id, every candidate
    decoded_all = counting.calls
    counting.calls = 0
    known = tags.detect_tags(gray, known=frozenset({101, 102, 103, page_tag.id}))

    assert [t.id for t in everything] == [page_tag.id]
    assert [t.id for t in known] == [page_tag.id]  # the restricted dictionary maps back to the id
    np.testing.assert_allclose(known[0].corners, everything[0].corners)
    assert decoded_all > 3  # the handwriting gives the pre-filter candidates
    assert counting.calls == 1, f"decoded {counting.calls} candidates (all: {decoded_all})"


def test_a_tag_outside_the_known_ids_is_not_decoded() -> None:
    """The caller's full-image detector reports it (``extract.register``: an unknown page)."""
    gray = _scan_page()
    page_tag = load_layout(FormType.PPWP).pages[1].tag
    assert page_tag is not None
    assert tags.detect_tags(gray, known=frozenset({page_tag.id + 1})) == []
    assert [t.id for t in tags.detect_tags(gray)] == [page_tag.id]

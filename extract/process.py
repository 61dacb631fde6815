"""One input file in, one ``FileOutcome`` out: decode -> register -> read, page by page.

Never raises for bad input: every problem ends in the outcome as an enumerated reason. A bug
ends as INTERNAL_ERROR with its message, so one bad file cannot stop a batch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from extract.cache import OutcomeCache, outcome_key
from extract.decode import DecodeError, chatter_text, decode_file
from extract.digits import DigitReader
from extract.geometry import PageMap, page_map
from extract.header import HEADER_FIELDS, NUMBER_FIELDS, header_crops, read_headers
from extract.model_store import current_model
from extract.read_page import read_fields
from extract.register import RegisterFailure, register_page
from extract.typed_number import number_boxes, read_typed_number
from schemas.layout import PageLayout, load_layout
from schemas.reasons import Reason
from schemas.records import FileOutcome, InputFile, PageReading, PageRejection
from schemas.settings import LearnSettings, Settings
from schemas.version import pipeline_version

log = logging.getLogger(__name__)
TRANSIENT = {Reason.TOOL_TIMEOUT, Reason.INTERNAL_ERROR, Reason.WORKER_CANNOT_OPEN}


def default_reader(models_dir: str | None = None) -> DigitReader:
    """The promoted current model of ``models_dir`` (default: ``PINDAI_MODELS_DIR`` or the state
    folder, see ``schemas.settings.LearnSettings``), else the packaged one. The pointer is read on
    every call (a few bytes), so a long-lived process picks up a promotion at its next chunk."""
    files = current_model(models_dir if models_dir is not None else LearnSettings().models_dir)
    return _reader(str(files.onnx) if files else None)


@cache
def _reader(onnx: str | None) -> DigitReader:
    """One reader per model per process: the ONNX model is loaded once, not per file (promoted
    version folders never change, so the path is a safe key)."""
    return DigitReader(onnx) if onnx else DigitReader()


@dataclass
class PendingHeader:
    """A read page whose printed header waits for the chunk's one Tesseract call
    (``extract.header.read_headers``): its header crops, and the digit reader's vote on the TPS number."""

    page: PageReading
    crops: dict[str, np.ndarray]
    typed_tps_number: str | None


def process_file(item: InputFile, settings: Settings, reader: DigitReader | None = None,
                 headers: list[PendingHeader] | None = None) -> FileOutcome:
    """Decode, register and read every page of ``item``. When ``headers`` is a list, each read
    page's header crops (and the digit reader's reading of its TPS number) are appended to it, to
    be OCR'd in one batch by the caller."""
    reader = reader or default_reader(settings.learn.models_dir)
    outcome = FileOutcome(file=item)
    if item.identity is None:
        outcome.failure = Reason.BAD_NAME
        # repr: a name may hold a newline or control characters; the detail stays one line.
        outcome.detail = f"{item.rel_path!r}: add it to manifest.csv or rename it"
        return outcome
    chatter: list[str] = []  # the decoders' warnings on a damaged file: its detail, not the terminal
    try:
        t0 = time.perf_counter()
        for page in decode_file(Path(item.path), settings.limits, settings.read):
            t_decode = time.perf_counter() - t0
            chatter.extend(page.chatter)
            result = _process_page(item, page.index, page.gray, settings, reader)
            if isinstance(result, PageReading):
                result.seconds["decode"] = round(t_decode, 4)
                outcome.pages.append(result)
                if headers is not None:
                    layout = load_layout(result.registration.form_type).pages[result.registration.page - 1]
                    H = page_map(result.registration)
                    fields = HEADER_FIELDS if settings.read.header_names else NUMBER_FIELDS
                    headers.append(PendingHeader(result, header_crops(page.gray, H, layout, fields),
                                                 _typed_tps_number(page.gray, H, layout, reader, result)))
            else:
                outcome.rejected_pages.append(result)
            t0 = time.perf_counter()
    except DecodeError as exc:
        outcome.failure, outcome.detail = exc.reason, exc.detail
    except Exception as exc:  # a bug must not stop the batch; it is reported as one
        log.exception("internal error on %s", item.rel_path)
        outcome.failure, outcome.detail = Reason.INTERNAL_ERROR, " ".join(f"{type(exc).__name__}: {exc}".split())
    if outcome.failure is None and chatter:
        outcome.detail = f"decoder: {chatter_text(chatter)}"
    return outcome


def _typed_tps_number(gray: np.ndarray, H: PageMap, layout: PageLayout, reader: DigitReader,
                      result: PageReading) -> str | None:
    """The digit reader's reading of the header's typed TPS number (one vote of the identity
    cross-check, ``extract.header.read_headers``); its time counts as reading."""
    rect = next((hf.rect for hf in layout.header if hf.id == "tps_number"), None)
    if rect is None:
        return None
    t0 = time.perf_counter()
    number = read_typed_number(reader, number_boxes(gray, H, rect))
    result.seconds["read"] = round(result.seconds.get("read", 0.0) + time.perf_counter() - t0, 4)
    return number


def _process_page(item: InputFile, index: int, gray: np.ndarray, settings: Settings,
                  reader: DigitReader) -> PageReading | PageRejection:
    assert item.identity is not None
    # Wall time and this process's CPU time per stage: on a shared or virtual machine the wall
    # clock also counts the time other work held the core.
    t0, c0 = time.perf_counter(), time.process_time()
    reg = register_page(gray, expected=item.identity.form_type)
    t_reg, c_reg = time.perf_counter() - t0, time.process_time() - c0
    if isinstance(reg, RegisterFailure):
        return PageRejection(file=item.rel_path, file_sha256=item.sha256, page_index=index,
                             reason=reg.reason, detail=reg.detail)
    if reg.form_type != item.identity.form_type:
        return PageRejection(file=item.rel_path, file_sha256=item.sha256, page_index=index,
                             reason=Reason.WRONG_FORM_TYPE,
                             detail=f"named {item.identity.form_type.value}, the page is "
                                    f"{reg.form_type.value} page {reg.page}")
    layout = load_layout(reg.form_type).pages[reg.page - 1]
    t1, c1 = time.perf_counter(), time.process_time()
    fields = read_fields(gray, page_map(reg), layout, reader, settings.read.bubble_fill, reg.box_quality)
    t_read, c_read = time.perf_counter() - t1, time.process_time() - c1
    return PageReading(file=item.rel_path, file_sha256=item.sha256, page_index=index, registration=reg,
                       fields=fields, seconds={"register": round(t_reg, 4), "read": round(t_read, 4),
                                               "register_cpu": round(c_reg, 4), "read_cpu": round(c_read, 4)})


def process_chunk(items: list[InputFile], settings: Settings) -> list[FileOutcome]:
    """A chunk of files in one worker: Prefect's per-task overhead is paid per chunk, not per page."""
    import cv2

    cv2.setNumThreads(1)  # parallelism comes from the worker pool, one process per core
    cache = OutcomeCache(Path(settings.cache_dir)) if settings.cache_dir else None
    reader = default_reader(settings.learn.models_dir)
    versions = (pipeline_version(), reader.version, settings.read.model_dump_json())
    keys = [outcome_key(item, *versions) for item in items]
    cached = [cache.get(k, item) if cache else None for k, item in zip(keys, items, strict=True)]
    headers: list[PendingHeader] | None = [] if settings.read.header_ocr else None
    outcomes = [c if c is not None else process_file(item, settings, reader, headers=headers)
                for c, item in zip(cached, items, strict=True)]
    if headers:
        t0 = time.perf_counter()
        texts = read_headers([h.crops for h in headers], settings.limits.tesseract_timeout_s,
                             typed_numbers=[h.typed_tps_number for h in headers])
        share = (time.perf_counter() - t0) / len(headers)
        for h, text in zip(headers, texts, strict=True):
            h.page.header_text = text
            h.page.seconds["header_ocr"] = round(share, 4)
    if cache:
        for key, c, oc in zip(keys, cached, outcomes, strict=True):
            # Tool timeouts and internal errors may pass: those are retried, never cached.
            if c is None and oc.failure not in TRANSIENT:
                cache.put(key, oc)
    return outcomes

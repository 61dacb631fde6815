"""Every way a file, page or form can end other than ``verified``: enumerated, with stable codes.

The value of each member is its stable code (what operators, release tables and tests see);
``message`` is a one-line explanation an operator understands. Only the CLI turns outcomes into
exit codes.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    VERIFIED = "verified"
    NEEDS_REVIEW = "needs_review"
    REJECTED = "rejected"
    FAILED = "failed"


class Reason(StrEnum):
    # -- input files (ingest) -------------------------------------------------------------
    EMPTY_FILE = "empty_file"
    FILE_TOO_LARGE = "file_too_large"
    UNREADABLE_FILE = "unreadable_file"  # permission denied, I/O error
    UNSUPPORTED_FORMAT = "unsupported_format"  # content is not an image or PDF
    CORRUPT_IMAGE = "corrupt_image"  # truncated or undecodable image
    CORRUPT_PDF = "corrupt_pdf"
    ENCRYPTED_PDF = "encrypted_pdf"
    TOO_MANY_PAGES = "too_many_pages"
    TOO_MANY_PIXELS = "too_many_pixels"  # decompression bomb guard
    BAD_NAME = "bad_name"  # identity neither in manifest.csv nor in the file name
    DUPLICATE_FILE = "duplicate_file"  # byte-identical to another input file
    TOOL_TIMEOUT = "tool_timeout"
    TOOL_ERROR = "tool_error"
    # A worker could not open a file the planner read: the run's fault (moved, removed, permissions,
    # a Dask worker without the batch's filesystem), so the file is ``failed``, never ``rejected``.
    WORKER_CANNOT_OPEN = "worker_cannot_open"
    # -- pages (registration) -------------------------------------------------------------
    BLANK_PAGE = "blank_page"
    NO_MARKS = "no_marks"
    UNKNOWN_PAGE = "unknown_page"
    TOO_SKEWED = "too_skewed"
    TOO_SMALL = "too_small"
    CUT_OFF = "cut_off"  # digit boxes outside the picture
    TOO_BLURRED = "too_blurred"  # box borders measured too spread to read digits
    OCCLUDED = "occluded"  # digit boxes not found where the printed structure should be
    WRONG_FORM_TYPE = "wrong_form_type"  # registered page is of another form type than named
    WEAK_REGISTRATION = "weak_registration"  # located by the tag alone: box positions may be off
    # -- forms (assembly, validation) -----------------------------------------------------
    MISSING_PAGE = "missing_page"
    DUPLICATE_PAGE_CONFLICT = "duplicate_page_conflict"
    IDENTITY_MISMATCH = "identity_mismatch"  # printed header disagrees with name/manifest
    UNSURE_DIGITS = "unsure_digits"
    AUTO_CORRECTED = "auto_corrected"
    AUTO_CONFIRMED = "auto_confirmed"  # unsure digits: the reading is the only one satisfying the rules
    STEWARD_CORRECTED = "steward_corrected"  # a data steward corrected or confirmed values
    RULE_BROKEN = "rule_broken"
    BUBBLES_DISAGREE = "bubbles_disagree"
    # -- anything else ------------------------------------------------------------------
    INTERNAL_ERROR = "internal_error"

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES: dict[Reason, str] = {
    Reason.EMPTY_FILE: "the file is empty (0 bytes)",
    Reason.FILE_TOO_LARGE: "the file is larger than the configured maximum size",
    Reason.UNREADABLE_FILE: "the file cannot be read (permissions or I/O error)",
    Reason.UNSUPPORTED_FORMAT: "the content is not a PDF, JPEG, PNG, TIFF or WebP image",
    Reason.CORRUPT_IMAGE: "the image is truncated or damaged and cannot be decoded",
    Reason.CORRUPT_PDF: "the PDF is damaged and cannot be rendered",
    Reason.ENCRYPTED_PDF: "the PDF is password-protected",
    Reason.TOO_MANY_PAGES: "the PDF has more pages than the configured maximum",
    Reason.TOO_MANY_PIXELS: "the image (or rendered page) exceeds the configured pixel limit",
    Reason.BAD_NAME: "cannot tell which TPS and form this is: not in manifest.csv and the name "
    "does not follow <tps_code>_<form>[_p<page>].<ext>",
    Reason.DUPLICATE_FILE: "byte-identical to another input file; read once",
    Reason.TOOL_TIMEOUT: "an external tool (pdftoppm/tesseract) took longer than its time limit",
    Reason.TOOL_ERROR: "an external tool (pdftoppm/tesseract) failed",
    Reason.WORKER_CANNOT_OPEN: "a reading worker could not open the file the run had found (removed or moved "
    "during the run, permissions, or not on the worker's filesystem); read it again with rerun-failed",
    Reason.BLANK_PAGE: "the page is blank",
    Reason.NO_MARKS: "no registration marks or page tag found: not a known form, or badly cropped",
    Reason.UNKNOWN_PAGE: "the page tag or table structure matches no known form page",
    Reason.TOO_SKEWED: "the page is too distorted to read reliably",
    Reason.TOO_SMALL: "the form is too small in the image to read its digits",
    Reason.CUT_OFF: "part of the form is outside the picture: some digit boxes are cut off",
    Reason.TOO_BLURRED: "the photo is too blurred (motion or focus) to read its digits",
    Reason.OCCLUDED: "something covers the form (a hand, an object, a fold): digit boxes are hidden",
    Reason.WRONG_FORM_TYPE: "the page is of another form type than the file name or manifest says",
    Reason.WEAK_REGISTRATION: "the page was located by its tag alone (corner marks hidden or cut off); "
    "box positions may be off",
    Reason.MISSING_PAGE: "one or more pages of the form are missing",
    Reason.DUPLICATE_PAGE_CONFLICT: "two scans of the same page disagree",
    Reason.IDENTITY_MISMATCH: "the printed header disagrees with the file name or manifest",
    Reason.UNSURE_DIGITS: "some digits were not read confidently",
    Reason.AUTO_CORRECTED: "unsure digits were corrected automatically using the form's arithmetic",
    Reason.AUTO_CONFIRMED: "unsure digits were confirmed by the form's arithmetic (the reading is the only "
    "one that satisfies the rules)",
    Reason.STEWARD_CORRECTED: "a data steward corrected or confirmed values (see the corrections)",
    Reason.RULE_BROKEN: "the numbers break one of the form's arithmetic rules",
    Reason.BUBBLES_DISAGREE: "the blackened bubbles disagree with the written digits",
    Reason.INTERNAL_ERROR: "pindai failed on this file (a bug); see the log",
}

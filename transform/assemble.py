"""Group page readings into forms (one per region code and form type) and settle duplicates."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.layout import FormType
from schemas.reasons import Reason
from schemas.records import FileOutcome, PageReading


@dataclass
class FormDraft:
    region_code: str
    form_type: FormType
    pages: dict[int, list[PageReading]] = field(default_factory=dict)  # page number -> scans
    files: list[str] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)

    def add(self, page: PageReading) -> None:
        self.pages.setdefault(page.registration.page, []).append(page)
        if page.file not in self.files:
            self.files.append(page.file)


def assemble(outcomes: list[FileOutcome]) -> dict[tuple[str, FormType], FormDraft]:
    """Forms keyed by (region code, form type), in a stable order, from the readable pages.

    A form's identity comes from the file (manifest or name); registration tells which page each
    image is. Outcomes without any readable page contribute nothing here (they are accounted for
    file by file).
    """
    drafts: dict[tuple[str, FormType], FormDraft] = {}
    for oc in sorted(outcomes, key=lambda o: o.file.rel_path):
        ident = oc.file.identity
        if ident is None or not oc.pages:
            continue
        key = (ident.region_code, ident.form_type)
        draft = drafts.setdefault(key, FormDraft(ident.region_code, ident.form_type))
        for page in oc.pages:
            draft.add(page)
    return dict(sorted(drafts.items(), key=lambda kv: (kv[0][0], kv[0][1].value)))


def page_values(page: PageReading) -> dict[str, int | None]:
    return {f.field_id: f.value for f in page.fields}


def settle_duplicates(scans: list[PageReading]) -> tuple[PageReading, bool]:
    """Several scans of the same page: keep the best registered one; report whether they disagree
    (FORMS.md rule 12: several scans of the same TPS page must agree)."""
    best = max(scans, key=lambda p: (p.registration.score, -len(p.file), p.file))
    conflict = any(page_values(s) != page_values(best) for s in scans)
    return best, conflict

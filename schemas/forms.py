"""Pydantic models of each form type's values, built from its layout (field ids and box ranges).

``form_model("ppwp")`` is a model with one optional ``int`` per field, ``0 <= v <= 10**boxes - 1``
(FORMS.md rule 10), titled with the section and described with the labels: a typed contract for
the numbers of one form that consumers can validate and publish as JSON Schema.
"""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict, Field, create_model

from schemas.layout import FormType, load_layout


def form_model(form_type: FormType | str) -> type[BaseModel]:
    return _form_model(FormType(form_type))


@cache
def _form_model(form_type: FormType) -> type[BaseModel]:
    layout = load_layout(form_type)
    fields: dict = {}
    for page in layout.pages:
        for f in page.fields:
            spec = Field(default=None, ge=0, le=f.max_value, title=f"{f.section} {f.label_en}",
                         description=f"{f.label_id} / {f.label_en} (page {page.page})")
            fields[f.id] = (int | None, spec)
    name = "Values_" + layout.form_type.value.replace("-", "_")
    return create_model(name, __config__=ConfigDict(extra="forbid", frozen=True), **fields)


def validate_values(form_type: FormType | str, values: dict[str, int | None]) -> BaseModel:
    """Raise ``pydantic.ValidationError`` when a field is unknown, not an integer or out of range."""
    return form_model(form_type).model_validate(values)

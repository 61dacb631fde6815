"""Rows that compare forms with each other and with the TPS register (made by ``transform.reconcile``,
written as the release tables ``reconciliation`` and ``coverage`` by ``load``).

The class docstrings are the tables' descriptions in the release README and datapackage; the field
descriptions are their column descriptions (region codes and names are described once, in ``load``).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from schemas.layout import FormType
from schemas.reasons import Status


class ReconciliationRow(BaseModel):
    """D.Hasil against the sum of its C.Hasil PPWP forms (FORMS.md rule 14): one row per kecamatan and
    field, and per desa row and field when a register maps the attachment rows to desa (rows in desa
    code order). Per TPS one form is summed: a verified one before one that is not, then the plano
    before the A4 copy (Salinan). A TPS form without a value for the field counts in
    tps_values_missing, not in the sum."""

    kecamatan_code: str
    province_code: str
    kabkota_code: str
    kecamatan_name: str | None = None
    d_hasil_status: Status = Field(description="Status of the D.Hasil form")
    desa_code: str | None = Field(None, description="Desa of the attachment row (null: kecamatan total, "
                                  "or a filled-in row beyond the register's desa)")
    desa_row: int | None = Field(None, description="Attachment row number (null: kecamatan total)")
    field_id: str = Field(description="The field: a kecamatan total (votes_1, ...) or, on desa rows, the "
                          "attachment column (the D.Hasil field is desa_<row>_<field_id>)")
    d_hasil_value: int | None = Field(description="Value on the D.Hasil")
    tps_sum: int | None = Field(description="Sum of the field over the TPS forms summed (null when none "
                                "has a value)")
    tps_forms: int = Field(description="TPS forms summed (one per TPS)")
    tps_verified: int = Field(description="... of which verified")
    tps_values_missing: int = Field(description="... of which the value of this field is missing")
    tps_expected: int | None = Field(description="TPS in the register for the kecamatan/desa (null: no "
                                     "register)")
    difference: int | None = Field(description="d_hasil_value - tps_sum")
    matches: bool | None = Field(description="difference == 0")
    complete: bool | None = Field(description="Every registered TPS of the kecamatan/desa has a form with "
                                  "a value (null without a register); rule 14 is checked on complete "
                                  "kecamatan totals")


class CoverageRow(BaseModel):
    """How much of the register has been received and verified: per province and kab/kota and form
    type (units: TPS for C.Hasil, kecamatan for D.Hasil). Expected counts need a register; with one,
    every region of the register has rows and received units the register does not know are counted
    apart (not_in_register), never as received."""

    level: str = Field(description="province | kabkota")
    region_code: str = Field(description="The province (2 digits) or kab/kota (4 digits) code")
    province_code: str
    kabkota_code: str | None = None
    province_name: str | None = None
    kabkota_name: str | None = None
    form_type: FormType
    unit: str = Field(description="tps | kecamatan")
    expected: int | None = Field(description="Units in the register (TPS: regular + special; null without "
                                 "register)")
    received: int = Field(description="Distinct units with a form of this type in the release (with a "
                          "register: registered units only)")
    verified: int = Field(description="... of which verified")
    needs_review: int = Field(description="... of which flagged for review")
    not_in_register: int | None = Field(description="Received units the register does not know (null: no "
                                        "register)")
    received_share: float | None = Field(description="received / expected")
    verified_share: float | None = Field(description="verified / expected")

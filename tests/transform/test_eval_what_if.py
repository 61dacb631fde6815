"""`pindai eval --auto-verify-min-p`: the same readings judged under another verification policy.

The trade it measures: a lower floor verifies more forms whose unsure digit the arithmetic settled,
and also absorbs an officer's slip when the reader gave the "right" digit a small probability."""

from __future__ import annotations

from pathlib import Path

from transform_factory import TPS, consistent_ppwp, draft
from typer.testing import CliRunner

from flows.cli import app
from load.release import publish
from schemas.layout import FormType
from schemas.reasons import Status
from schemas.records import BatchResult
from schemas.truth import Mistake, TruthForm, TruthPage
from transform.validate import ValidationSettings, validate_form

SLIP_TPS = TPS[:10] + "005"
# votes_2 read "_20" with 2 at p 0.8 and 7 at p 0.05: the sums want 70.
LONG_SHOT = {"votes_2": {1: {"2": 0.8, "7": 0.05}}}


def _truth(code: str, values: dict[str, int | None], mistakes: list[Mistake]) -> TruthForm:
    return TruthForm(region_code=code, form_type=FormType.PPWP, values=values, consistent=not mistakes,
                     mistakes=mistakes, pages=[TruthPage(page=1, file=f"{code}_ppwp.pdf", quality="scan")],
                     boxes={})


def _batch(tmp_path: Path) -> tuple[Path, Path]:
    v = consistent_ppwp()
    assert v["votes_2"] == 70
    strict = ValidationSettings(auto_verify_min_p=0.1)  # the release was published under a floor of 0.1
    misread = validate_form(draft(v, unsure=LONG_SHOT), settings=strict)  # the paper says 70, the reader doubted it
    slip = validate_form(draft(v, region=SLIP_TPS, unsure=LONG_SHOT), settings=strict)  # the officer wrote 20
    assert misread.status == slip.status == Status.NEEDS_REVIEW  # p 0.05 < 0.1
    release = publish(BatchResult(forms=[misread, slip], files=[]), tmp_path / "releases")
    truth = tmp_path / "truth.jsonl"
    slipped = {**v, "votes_2": 20}
    truth.write_text(_truth(TPS, v, []).model_dump_json() + "\n"
                     + _truth(SLIP_TPS, slipped, [Mistake(kind="sum_off", fields=["votes_2"])]).model_dump_json()
                     + "\n")
    return release, truth


def test_eval_judges_again_under_a_lower_floor(tmp_path: Path) -> None:
    release, truth = _batch(tmp_path)
    runner = CliRunner()

    as_published = runner.invoke(app, ["eval", str(release), str(truth)])
    assert as_published.exit_code == 0, as_published.output
    assert "silent errors (verified, wrong): 0" in as_published.output
    assert "consistent forms verified: scan 0/1" in as_published.output
    assert "injected mistakes caught: 1/1" in as_published.output

    lax = runner.invoke(app, ["eval", str(release), str(truth), "--auto-verify-min-p", "0.05"])
    assert "judging again: auto_verify_min_p=0.05" in lax.output
    assert "consistent forms verified: scan 1/1" in lax.output  # the misread is settled...
    assert "silent errors (verified, wrong): 1" in lax.output  # ... and the slip absorbed
    assert f"SILENT {SLIP_TPS}" in lax.output
    assert lax.exit_code == 1
    assert (release / "records.jsonl").read_text().count('"needs_review"') == 2  # the release is untouched

"""--template-pdf: forms filled into the official PDF are read back by the pipeline."""

from __future__ import annotations

from pathlib import Path

from extract.plan import plan_batch
from extract.process import process_file
from schemas.settings import Settings
from schemas.truth import TruthForm
from synth.generate import GenerateOptions, generate_batch
from tests.conftest import shared_path


def test_official_plano_filled_and_read_back(tmp_path: Path) -> None:
    pdf = shared_path("forms", "C.HASIL-PPWP.pdf")
    generate_batch(GenerateOptions(out_dir=tmp_path, forms=1, province="32", seed=3, quality="scan",
                                   form_types=["ppwp"], template_pdf=pdf, inconsistent_rate=0, workers=1))
    (truth,) = [TruthForm.model_validate_json(line) for line in (tmp_path / "truth.jsonl").read_text().splitlines()]
    plan = plan_batch(tmp_path)
    pages = [p for item in plan.items for p in process_file(item, Settings(workers=1)).pages]
    assert sorted(p.registration.page for p in pages) == [1, 2, 3]  # official AprilTags 101-103
    assert all(p.registration.method == "tag+marks" for p in pages)
    read = {f.field_id: f.value for p in pages for f in p.fields}
    right = sum(read[k] == v for k, v in truth.values.items())
    assert right >= 0.85 * len(truth.values), f"only {right}/{len(truth.values)} fields read right"

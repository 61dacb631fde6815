from pathlib import Path

import pytest

from extract.ingest import ManifestError, discover, identity_from_name, read_manifest
from extract.plan import plan_batch
from schemas.layout import FormType
from schemas.reasons import Reason


@pytest.mark.parametrize(
    ("name", "code", "form", "page"),
    [
        ("3273010001004_ppwp_p2.jpg", "3273010001004", FormType.PPWP, 2),
        ("3273010001004_ppwp.pdf", "3273010001004", FormType.PPWP, None),
        ("3273010001004_ppwp-salinan_p1.png", "3273010001004", FormType.PPWP_SALINAN, 1),
        ("3273010001004_DPR_p3.jpeg", "3273010001004", FormType.DPR, 3),
        ("327301_dhasil-ppwp_p1.tif", "327301", FormType.DHASIL_PPWP, 1),
    ],
)
def test_identity_from_name(name: str, code: str, form: FormType, page: int | None) -> None:
    ident = identity_from_name(Path(name))
    assert ident is not None
    assert (ident.region_code, ident.form_type, ident.page) == (code, form, page)


@pytest.mark.parametrize("name", ["scan001.jpg", "327301_ppwp.jpg", "3273010001004_dhasil-ppwp.pdf",
                                  "3273010001004_pilkada.jpg", "-rf_ppwp.jpg", "3273010001004_ppwp_px.jpg"])
def test_bad_names_have_no_identity(name: str) -> None:
    assert identity_from_name(Path(name)) is None


def test_discover_is_recursive_sorted_and_survives_link_loops(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "3273010001004_ppwp_p1.jpg").write_bytes(b"x")
    (tmp_path / "a.PDF").write_bytes(b"%PDF")
    (tmp_path / "truth.jsonl").write_text("{}")
    (tmp_path / "b" / "loop").symlink_to(tmp_path, target_is_directory=True)
    found = discover(tmp_path)
    assert [p.as_posix() for p in found.files] == ["a.PDF", "b/3273010001004_ppwp_p1.jpg"]
    assert [p.as_posix() for p in found.ignored] == ["truth.jsonl"]
    assert [p.as_posix() for p in found.skipped_links] == ["b/loop"]


def test_manifest_overrides_names(tmp_path: Path) -> None:
    (tmp_path / "scan 1.jpg").write_bytes(b"x")
    (tmp_path / "manifest.csv").write_text("file,tps_code,form_type,page\nscan 1.jpg,3273010001004,ppwp,2\n")
    m = read_manifest(tmp_path)
    assert m["scan 1.jpg"].form_type is FormType.PPWP and m["scan 1.jpg"].page == 2


@pytest.mark.parametrize("text", [
    "file,code\nx.jpg,1\n",
    "file,tps_code,form_type\nx.jpg,123,ppwp\n",
    "file,tps_code,form_type\nx.jpg,3273010001004,pilkada\n",
    "file,tps_code,form_type,page\nx.jpg,3273010001004,ppwp,two\n",
])
def test_malformed_manifest_is_a_clear_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "manifest.csv").write_text(text)
    with pytest.raises(ManifestError, match="manifest.csv"):
        read_manifest(tmp_path)


def test_plan_accounts_for_duplicates_and_bad_manifest(tmp_path: Path) -> None:
    (tmp_path / "3273010001004_ppwp_p1.jpg").write_bytes(b"same")
    (tmp_path / "3273010001005_ppwp_p1.jpg").write_bytes(b"same")
    (tmp_path / "manifest.csv").write_text("nonsense\n")
    plan = plan_batch(tmp_path)
    assert plan.total_files == 2
    assert [o.failure for o in plan.settled] == [Reason.DUPLICATE_FILE]
    assert plan.warnings and "manifest.csv" in plan.warnings[0]

"""The one release catalogue (``load.catalogue``) and corrections as state (``load.lineage``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import REGISTER, sample_batch

from load.catalogue import CatalogueProblem, ReleaseNotFound, ReleaseUnreadable, open_release, resolve
from load.lineage import publish_corrections, publish_from_parent
from load.release import publish
from load.verify import verify_release
from transform.corrections import COLUMNS, CorrectionsError

FLAGGED = "0101010001002"  # sample_batch's flagged form: valid_votes written 10 too high


def _row(**kw: str) -> dict[str, str]:
    return {**dict.fromkeys(COLUMNS, ""), "region_code": FLAGGED, "form_type": "ppwp", **kw}


@pytest.fixture
def releases(tmp_path: Path) -> Path:
    reg = tmp_path / "register.json"
    reg.write_text(json.dumps(REGISTER))
    publish_from_parent(sample_batch(), tmp_path / "releases", tmp_path / "scans", "run", reg)
    return tmp_path / "releases"


def test_resolve_latest_id_and_path(releases: Path) -> None:
    rel = open_release(releases)
    assert resolve(releases) == rel.path == (releases / "latest").resolve()
    assert resolve(releases, rel.id) == rel.path == resolve(rel.path) == resolve(releases / "latest")
    assert resolve(releases, str(rel.path)) == rel.path
    assert rel.run.release_id == rel.id and rel.run.files and rel.records and rel.ledger == []
    assert rel.manifest.base_release is None and rel.manifest.lineage.command == "run"
    assert rel.register().sha256 == rel.manifest.lineage.tps_register.sha256
    assert rel.input_dir.is_absolute()


@pytest.mark.parametrize(("make", "problem"), [
    (lambda r: r / "nowhere", CatalogueProblem.NOT_FOUND),
    (lambda r: r.parent / "empty", CatalogueProblem.NO_RELEASES),
])
def test_no_release_is_one_clear_error(releases: Path, make, problem) -> None:
    (releases.parent / "empty").mkdir()
    with pytest.raises(ReleaseNotFound) as exc:
        resolve(make(releases))
    assert exc.value.problem == problem and isinstance(exc.value, FileNotFoundError)
    with pytest.raises(ReleaseNotFound):
        resolve(releases, "no-such-id")


@pytest.mark.parametrize(("name", "problem"), [
    ("manifest.json", CatalogueProblem.MANIFEST), ("run.json", CatalogueProblem.RUN),
    ("records.jsonl", CatalogueProblem.RECORDS), ("corrections.jsonl", CatalogueProblem.LEDGER),
])
def test_damaged_release_is_unreadable_with_its_code(releases: Path, name: str, problem) -> None:
    path = resolve(releases) / name
    os.unlink(path)  # hard links: never write through into another release
    path.write_text("{not json\n")
    with pytest.raises(ReleaseUnreadable) as exc:
        rel = open_release(releases)
        _ = rel.records, rel.ledger
    assert exc.value.problem == problem and name in str(exc.value)


def test_corrections_are_state_and_nothing_changed_publishes_nothing(releases: Path) -> None:
    first = open_release(releases)
    old = next(f for f in first.records if f.region_code == FLAGGED).values["valid_votes"]
    # an unfilled row changes nothing: no release
    out = publish_corrections(releases, [_row(field_id="valid_votes", old_value=str(old))])
    assert not out.published and "nothing to apply" in out.message and open_release(releases).id == first.id

    out = publish_corrections(releases, [_row(field_id="valid_votes", new_value=str(old - 10), reviewer="siti")],
                              source="review session 1", store_crops=False)
    second = open_release(releases)
    assert out.published and second.id != first.id and out.base_release == first.id
    assert second.manifest.base_release == first.id
    lin = second.manifest.lineage
    assert (lin.command, lin.corrections.added, lin.corrections.entries) == ("review-apply", 1, 1)
    assert lin.corrections.added_from == "review session 1" and lin.corrections.reviewers[0].startswith("steward-")
    (entry,) = second.ledger
    assert (entry.field_id, entry.old, entry.new, entry.release_id) == ("valid_votes", old, old - 10, second.id)
    assert "siti" not in (second.path / "corrections.jsonl").read_text()
    # the register came over unchanged, as a hard link to the same bytes
    assert lin.tps_register.carried_from == first.id and lin.tps_register.source == "register.json"
    assert os.stat(second.path / "register.json").st_ino == os.stat(first.path / "register.json").st_ino
    assert verify_release(second.path).ok

    # the same decision again: nothing published
    out = publish_corrections(releases, [_row(field_id="valid_votes", new_value=str(old - 10), reviewer="siti")])
    assert not out.published and out.noop_lines == [2] and open_release(releases).id == second.id
    # a bad row: refused, nothing published
    with pytest.raises(CorrectionsError):
        publish_corrections(releases, [_row(field_id="votes_9", new_value="1")])
    assert open_release(releases).id == second.id

    # a fresh reading of the batch (a new run) starts from the parent: the correction is in force
    third = Path(publish_from_parent(sample_batch(), releases, None, "run"))
    rec = next(f for f in open_release(third).records if f.region_code == FLAGGED)
    assert rec.values["valid_votes"] == old - 10 and any(c.by.startswith("steward-") for c in rec.corrections)
    m = open_release(third).manifest
    assert m.base_release == second.id and m.lineage.corrections.entries == 1 and m.lineage.corrections.added == 0
    assert m.lineage.tps_register.carried_from == first.id


def test_a_register_given_as_data_is_kept_and_carried(tmp_path: Path) -> None:
    first = publish(sample_batch(), tmp_path, release_id="r1", register=REGISTER)
    second = publish_from_parent(sample_batch(), tmp_path, None, "run")
    a, b = open_release(first).manifest.lineage, open_release(second).manifest.lineage
    assert a.tps_register.sha256 and b.tps_register.sha256 == a.tps_register.sha256
    assert b.tps_register.carried_from == "r1" and open_release(second).manifest.tps_register["source"] is None


def test_a_new_register_replaces_the_one_in_force(releases: Path, tmp_path: Path) -> None:
    first = open_release(releases)
    other = tmp_path / "register-2025.json"
    other.write_text(json.dumps({**REGISTER, "id2name": {**REGISTER["id2name"], "0101": "KAB SATU BARU"}}))
    new = open_release(publish_from_parent(sample_batch(), releases, None, "run", str(other)))
    ref = new.manifest.lineage.tps_register
    assert (ref.source, ref.carried_from) == ("register-2025.json", None)
    assert ref.sha256 != first.manifest.lineage.tps_register.sha256 and new.register().name("0101") == "KAB SATU BARU"


def test_a_release_without_its_register_copy_asks_for_it(releases: Path) -> None:
    """A release written before releases kept their register names it but has no copy: a later
    release must not silently drop it."""
    rel = open_release(releases)
    manifest = json.loads((rel.path / "manifest.json").read_text())
    del manifest["lineage"]
    os.unlink(rel.path / "manifest.json")
    (rel.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ReleaseUnreadable) as exc:
        publish_from_parent(sample_batch(), releases, None, "run")
    assert exc.value.problem == CatalogueProblem.REGISTER_NOT_KEPT and "--register" in str(exc.value)
    assert open_release(releases).id == rel.id


def test_latest_moving_meanwhile_publishes_nothing(releases: Path) -> None:
    from load.release import CarryOverError

    first = open_release(releases)
    second = publish(sample_batch(), releases, register=REGISTER)  # another publication in between
    with pytest.raises(CarryOverError, match="moved"):
        publish(sample_batch(), releases, ledger=first.ledger, parent_id=first.id)
    assert open_release(releases).path == second

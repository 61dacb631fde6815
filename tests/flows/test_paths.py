"""Paths are absolute once planned: a Dask worker in another folder reads the same files; a worker
that cannot open a file the planner read makes it ``failed`` (naming the path), never ``rejected``;
an empty folder publishes nothing (issue 25)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from schemas.errors import EmptyBatch
from schemas.reasons import Reason, Status
from schemas.settings import Settings


@pytest.fixture
def one_form(small_batch: Path, tmp_path: Path) -> Path:
    """The three pages of one PPWP form of the small batch."""
    code = sorted(p.name.split("_")[0] for p in small_batch.glob("*_ppwp_p1.*"))[0]
    d = tmp_path / "batch"
    d.mkdir()
    for p in small_batch.glob(f"{code}_ppwp_p*"):
        shutil.copyfile(p, d / p.name)
    return d


def test_a_file_gone_between_plan_and_read_is_failed_naming_its_path(prefect_server, one_form: Path) -> None:
    from prefect import flow

    from extract.plan import plan_batch
    from flows.digitize import read_all
    from flows.pipeline import finish

    @flow
    def plan_remove_read() -> list:
        plan = plan_batch(one_form)
        gone = Path(plan.items[0].path)
        gone.unlink()  # removed after the planner checksummed it
        return [plan, finish(plan, read_all(plan, Settings(workers=1, chunk_files=1))), gone]

    plan, result, gone = plan_remove_read()
    by_name = {f.file: f for f in result.files}
    st = by_name[gone.name]
    assert st.status is Status.FAILED and st.reasons == [Reason.WORKER_CANNOT_OPEN], st
    assert str(gone) in st.detail and gone.is_absolute()
    others = [f for n, f in by_name.items() if n != gone.name]
    assert len(others) == 2 and all(f.status is not Status.FAILED for f in others)


def test_no_file_opened_by_any_worker_is_not_a_release(prefect_server, one_form: Path) -> None:
    from prefect import flow

    from extract.plan import plan_batch
    from flows.digitize import check_workers_saw, read_all
    from schemas.errors import NothingCouldBeOpened

    @flow
    def plan_remove_all_read() -> list:
        plan = plan_batch(one_form)
        for item in plan.items:
            Path(item.path).unlink()
        return [plan, read_all(plan, Settings(workers=1))]

    plan, outcomes = plan_remove_all_read()
    assert {o.failure for o in outcomes} == {Reason.WORKER_CANNOT_OPEN}
    with pytest.raises(NothingCouldBeOpened, match="no reading worker could open any of the 3 file"):
        check_workers_saw(plan, outcomes)


def test_dask_workers_in_another_folder_read_a_relative_input_path(prefect_server, one_form: Path,
                                                                     tmp_path: Path, monkeypatch) -> None:
    distributed = pytest.importorskip("distributed")
    from flows.digitize import digitize_batch

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        # The workers started in this folder; the flow is given a path relative to another one.
        monkeypatch.chdir(one_form.parent)
        res = digitize_batch("batch", "releases", dask_address=cluster.scheduler_address, use_cache=False)
    release = Path(res["release"])
    assert release.is_absolute() and release.parent == tmp_path / "releases"
    run = json.loads((release / "run.json").read_text())
    assert run["input_dir"] == str(one_form)
    assert {f["status"] for f in run["files"]} <= {"verified", "needs_review"}, run["files"]
    assert len(run["files"]) == 3


def test_an_empty_folder_publishes_nothing(prefect_server, tmp_path: Path) -> None:
    from flows.digitize import digitize_batch

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("not a scan")
    with pytest.raises(EmptyBatch, match="1 other file"):
        digitize_batch(str(tmp_path / "in"), str(tmp_path / "releases"))
    assert not (tmp_path / "releases" / "latest").exists()

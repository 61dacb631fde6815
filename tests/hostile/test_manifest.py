"""A malformed manifest.csv never stops (or hangs) the batch: a warning that says which line and
why, and the files are identified by their names instead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from extract.plan import plan_batch
from schemas.reasons import Reason

GOOD = "3271021002026_ppwp_p1.jpg"
BODY = "file,tps_code,form_type,page\n"


@pytest.mark.parametrize(("content", "warning"), [
    (b"", "needs the columns file,tps_code,form_type[,page]; found []"),
    (b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00", "cannot read it (not UTF-8 text: invalid start byte at byte 0)"),
    (b"file;tps_code;form_type\nx.jpg;3271021002026;ppwp\n", "needs the columns"),
    ((BODY + "x.jpg,3271021002026,ppwp,1,extra\n").encode(), "line 2: more values than columns"),
    ((BODY + "x.jpg,3271021002026,ppwp,² \n").encode(), "line 2: page '²' is not a number"),
    ((BODY + "x.jpg,３２７１０２１００２０２６,ppwp,1\n").encode(), "must be 13 digits"),  # full-width digits
    ((BODY + "x.jpg,3271021002026,pilkada,1\n").encode(), "unknown form_type 'pilkada'"),
    ((BODY + "a" * 200_000 + ",3271021002026,ppwp,1\n").encode(), "not a readable CSV"),
    ((BODY + ",3271021002026,ppwp,1\n").encode(), "line 2: empty file name"),
])
def test_malformed_manifest_falls_back_to_names(tmp_path: Path, content: bytes, warning: str) -> None:
    (tmp_path / GOOD).write_bytes(b"\xff\xd8\xff")
    (tmp_path / "manifest.csv").write_bytes(content)
    plan = plan_batch(tmp_path)
    (w,) = plan.warnings
    assert w.startswith("manifest.csv") and warning in w and w.endswith("; using file names instead"), w
    assert "\n" not in w
    (item,) = plan.items
    assert item.identity is not None and item.identity.source == "name"


@pytest.mark.parametrize(("make", "detail"), [
    (lambda p: os.mkfifo(p), "not a regular file: a named pipe (FIFO)"),  # would block forever
    (lambda p: p.symlink_to("/dev/zero"), "not a regular file: a character device"),  # would never end
    (lambda p: p.mkdir(), "not a regular file: a folder"),
    (lambda p: p.symlink_to(p.parent / "gone.csv"), "No such file or directory"),
])
def test_manifest_that_is_not_a_file(tmp_path: Path, make, detail: str) -> None:
    (tmp_path / GOOD).write_bytes(b"\xff\xd8\xff")
    make(tmp_path / "manifest.csv")
    plan = plan_batch(tmp_path)
    assert plan.warnings == [f"manifest.csv: cannot read it ({detail}); using file names instead"]
    assert [i.rel_path for i in plan.items] == [GOOD]


def test_names_with_non_ascii_digits_claim_no_identity(tmp_path: Path) -> None:
    (tmp_path / "٣٢٧١٠٢١٠٠٢٠٢٦_ppwp_p1.jpg").write_bytes(b"\xff\xd8\xff")  # Arabic-Indic digits
    (item,) = plan_batch(tmp_path).items
    assert item.identity is None  # -> bad_name when processed, never a TPS code of other digits


def test_manifest_cannot_reach_outside_the_folder(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (tmp_path / "secret.jpg").write_bytes(b"\xff\xd8\xff")
    (src / "manifest.csv").write_text(BODY + "../secret.jpg,3271021002026,ppwp,1\n"
                                      "/etc/passwd,3271021002026,ppwp,2\n")
    plan = plan_batch(src)
    assert plan.items == [] and plan.settled == []  # the manifest names files; it never adds any


def test_bad_name_detail(tmp_path: Path, reader) -> None:
    from extract.process import process_file
    from schemas.settings import Settings

    (tmp_path / "scan 7.jpg").write_bytes(b"\xff\xd8\xff")
    (item,) = plan_batch(tmp_path).items
    oc = process_file(item, Settings(workers=1), reader)
    assert oc.failure is Reason.BAD_NAME and oc.detail == "'scan 7.jpg': add it to manifest.csv or rename it"

"""An output location that cannot be written: the CLI exits non-zero with a clear message, and
the previous release and ``latest`` are untouched (no staging debris). Batch-level warnings
(a malformed manifest.csv) are printed; hostile names do not break the console output."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import EXIT_WRITE, app


@pytest.fixture
def small_input(folder, scans) -> Path:
    return folder({scans.page(0, 1).name: scans.page(0, 1), "[red]bad;name[x.jpg": b"<html></html>"})


def _run(src: Path, out: Path):
    return CliRunner().invoke(app, ["run", str(src), "--out", str(out), "--no-prefect", "--workers", "1",
                                    "--no-cache"])


def _state(releases: Path) -> tuple[str, list[str]]:
    return os.readlink(releases / "latest"), sorted(p.name for p in releases.iterdir())


def test_releases_folder_under_a_regular_file(small_input: Path, tmp_path: Path, reader) -> None:
    """As root nothing is read-only; a path under a regular FILE fails for everyone."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    res = _run(small_input, blocker / "releases")
    assert res.exit_code == EXIT_WRITE, res.output
    assert "cannot create the releases folder" in res.output and "Not a directory" in res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS, errno.EDQUOT])
def test_full_disk_while_publishing_keeps_the_previous_release(small_input: Path, tmp_path: Path, monkeypatch,
                                                               reader, err: int) -> None:
    import load.release

    releases = tmp_path / "releases"
    first = _run(small_input, releases)
    assert first.exit_code == 0, first.output
    before = _state(releases)
    run_json = (releases / "latest" / "run.json").read_bytes()

    written = []
    real = load.release._write_text

    def full(path: Path, text: str) -> None:  # the disk fills up after the first file
        if written:
            raise OSError(err, os.strerror(err), str(path))
        written.append(path)
        real(path, text)

    monkeypatch.setattr(load.release, "_write_text", full)
    res = _run(small_input, releases)
    assert res.exit_code == EXIT_WRITE, res.output
    assert "could not write the release" in res.output and os.strerror(err) in res.output
    assert "the previous release and 'latest' are unchanged" in res.output
    assert "Traceback" not in res.output
    assert _state(releases) == before  # same latest, no new release, no .staging-* left behind
    assert (releases / "latest" / "run.json").read_bytes() == run_json


def test_malformed_manifest_warning_is_printed(small_input: Path, tmp_path: Path, reader) -> None:
    (small_input / "manifest.csv").write_text("file,tps_code,form_type\nx.jpg,123,ppwp\n")
    res = _run(small_input, tmp_path / "releases")
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())  # the console wraps long lines
    assert "warning: manifest.csv line 2: code '123' must be 13 digits for ppwp; using file names instead" in text


def test_status_prints_hostile_names_verbatim(small_input: Path, tmp_path: Path, reader) -> None:
    res = _run(small_input, tmp_path / "releases")
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["status", str(tmp_path / "releases")])
    assert res.exit_code == 0, res.output
    assert "[red]bad;name[x.jpg: bad_name" in " ".join(res.output.split())

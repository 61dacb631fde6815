"""Every known error of the ``pindai`` command is one clear line on stderr with a stable exit code,
no traceback; ``--debug`` shows it. An unexpected error is one line and exit 70 (issue 25)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import EXIT_EMPTY, EXIT_INPUT, EXIT_INTERNAL, EXIT_USAGE
from flows.pipeline import run_pipeline
from schemas.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def pindai(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def one_line(res: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == code, (res.returncode, res.stderr[-3000:])
    assert len(lines) == 1, res.stderr[-3000:]
    assert lines[0].startswith("error: ") and "Traceback" not in res.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def releases(small_batch: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A releases folder with one release of one form (three files)."""
    src = tmp_path_factory.mktemp("one")
    code = sorted(p.name.split("_")[0] for p in small_batch.glob("*_ppwp_p1.*"))[0]
    for p in small_batch.glob(f"{code}_ppwp_p*"):
        shutil.copyfile(p, src / p.name)
    out = tmp_path_factory.mktemp("rel") / "releases"
    run_pipeline(src, out, Settings(workers=1))
    return out


def test_bad_corrections_value_is_one_line_without_prefect_traceback(releases: Path, tmp_path: Path) -> None:
    latest = (releases / "latest").resolve()
    code = json.loads((latest / "records.jsonl").read_text().splitlines()[0])["region_code"]
    csv = tmp_path / "corrections.csv"
    csv.write_text("region_code,form_type,field_id,old_value,new_value,reviewer,reason\n"
                   f"{code},ppwp,votes_1,,abc,,\n")
    res = pindai("review", "apply", str(csv), "--releases", str(releases))
    one_line(res, EXIT_USAGE, "nothing applied", "line 2", "'abc' is not a whole number")
    assert (releases / "latest").resolve() == latest
    debug = pindai("--debug", "review", "apply", str(csv), "--releases", str(releases))
    assert debug.returncode == EXIT_USAGE and "Traceback" in debug.stderr
    assert debug.stderr.rstrip().splitlines()[-1].startswith("error: ") or "nothing applied" in debug.stderr


def test_missing_input_folder(tmp_path: Path) -> None:
    one_line(pindai("run", str(tmp_path / "nope"), "--out", str(tmp_path / "r")), EXIT_INPUT, "nope",
             "does not exist")


def test_empty_folder_exit_7_no_release_latest_unchanged(releases: Path, tmp_path: Path) -> None:
    latest = (releases / "latest").resolve()
    before = sorted(p.name for p in releases.iterdir())
    (tmp_path / "empty").mkdir()
    for cmd in (["run", "empty", "--out", str(releases), "--workers", "1"],
                ["run", "empty", "--out", str(releases), "--workers", "1", "--no-prefect"]):
        one_line(pindai(*cmd, cwd=tmp_path), EXIT_EMPTY, f"no scans in {tmp_path / 'empty'}",
                 "no release published")
    assert (releases / "latest").resolve() == latest
    assert sorted(p.name for p in releases.iterdir()) == before


def test_unreadable_register(tmp_path: Path, small_batch: Path) -> None:
    (tmp_path / "reg.json").write_text("{")
    one_line(pindai("run", str(small_batch), "--out", str(tmp_path / "r"), "--register", "reg.json", cwd=tmp_path),
             EXIT_INPUT, f"register {tmp_path / 'reg.json'}: not JSON")
    assert not (tmp_path / "r" / "latest").exists()
    (tmp_path / "reg.json").write_text('{"tps": []}')
    one_line(pindai("run", str(small_batch), "--out", str(tmp_path / "r"), "--register", "reg.json", cwd=tmp_path),
             EXIT_INPUT, "not a TPS register")


def test_release_not_found(tmp_path: Path) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text("region_code,form_type,field_id,old_value,new_value,reviewer,reason\n")
    one_line(pindai("review", "apply", str(csv), "--releases", str(tmp_path)), EXIT_INPUT, str(tmp_path))
    one_line(pindai("rerun-failed", str(tmp_path / "nowhere")), EXIT_INPUT, str(tmp_path / "nowhere"))


def test_unexpected_error_is_one_line_and_exit_70(monkeypatch, capsys) -> None:
    """A bug (here a command that divides by zero) is one line and exit 70; --debug shows where."""
    from flows import cli

    def boom() -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli.app, "registered_commands", list(cli.app.registered_commands))
    cli.app.command("boom")(boom)
    with pytest.raises(SystemExit) as ex:
        cli.main(["boom"])
    assert ex.value.code == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "error: internal error: ZeroDivisionError: division by zero (run again with --debug for the traceback)"]
    with pytest.raises(SystemExit) as ex:
        cli.main(["--debug", "boom"])
    err = capsys.readouterr().err
    assert ex.value.code == EXIT_INTERNAL and "Traceback" in err and "in boom" in err


def test_all_files_unreadable_publish_an_accounting_release(tmp_path: Path) -> None:
    """Every file ends rejected with its reason; the release is published (it is the record of what
    happened to them), exit 0, and the summary says that no form could be read."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "3273010001004_ppwp_p1.jpg").write_bytes(b"<html>Not Found</html>")
    (d / "3273010001004_ppwp_p2.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)
    (d / "3273010001004_ppwp_p3.png").write_bytes(b"")
    res = pindai("run", str(d), "--out", str(tmp_path / "r"), "--workers", "1", "--no-prefect")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "no form could be read: all 3 file(s) rejected or failed" in res.stdout
    run = json.loads((tmp_path / "r" / "latest" / "run.json").read_text())
    assert {f["file"]: (f["status"], f["reasons"]) for f in run["files"]} == {
        "3273010001004_ppwp_p1.jpg": ("rejected", ["unsupported_format"]),
        "3273010001004_ppwp_p2.jpg": ("rejected", ["corrupt_image"]),
        "3273010001004_ppwp_p3.png": ("rejected", ["empty_file"]),
    }


def test_bad_truth_file_and_unknown_province(releases: Path, tmp_path: Path) -> None:
    (tmp_path / "truth.jsonl").write_text("region_code,form_type\n")
    one_line(pindai("eval", str(releases), str(tmp_path / "truth.jsonl")), EXIT_INPUT,
             "line 1 is not a truth record")
    one_line(pindai("generate", str(tmp_path / "g"), "--forms", "1", "--province", "99"), EXIT_USAGE,
             "province 99 is not in the register")

"""File names are data, never code or options: names with spaces, unicode, quotes, ``;``, ``$()``
and leading dashes go through pdfinfo, pdftoppm and tesseract (argument lists, never a shell;
absolute paths, so a name can never start with "-")."""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

import pytest
from hostile_inputs import pdf_of_images
from hostile_support import assert_accounted

import extract._exec.run as run_mod
from extract._exec.pdftoppm import pdf_info, rasterize_page
from schemas.reasons import Status
from schemas.settings import Settings

TOOLS = {"pdfinfo", "pdftoppm", "tesseract"}


@pytest.fixture
def argv_log(monkeypatch) -> list[list[str]]:
    """Every external command pindai starts (the real subprocess.run still runs)."""
    log: list[list[str]] = []
    real = subprocess.run

    def spy(args, *a, **kw):
        assert not kw.get("shell"), "a shell was asked for"
        assert isinstance(args, list), "a command line string instead of an argument list"
        log.append([str(x) for x in args])
        return real(args, *a, **kw)

    monkeypatch.setattr(run_mod.subprocess, "run", spy)
    return log


@pytest.mark.parametrize("name", ["-v.pdf", "--help.pdf", "-f 1 -l 9.pdf", "-r 9999.pdf", "-"])
def test_poppler_never_takes_a_file_name_for_an_option(tmp_path: Path, monkeypatch, scans, argv_log,
                                                       name: str) -> None:
    (tmp_path / name).write_bytes(pdf_of_images([scans.page(0, 1), scans.page(0, 2)], dpi=200))
    monkeypatch.chdir(tmp_path)
    info = pdf_info(Path(name), max_pages=5)  # relative, as a careless caller would pass it
    assert info.pages == 2
    img = rasterize_page(Path(name), 2, 40)
    assert img.shape[1] == pytest.approx(info.page_sizes_pt[1][0] * 40 / 72, abs=2)
    for argv in argv_log:
        assert argv[0] in TOOLS
        assert argv[-1] == str(tmp_path / name)  # the file comes last, absolute
        assert not any(a == name for a in argv)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # nothing written beside it


def test_tesseract_gets_no_file_name_at_all(argv_log) -> None:
    import numpy as np

    from extract._exec.tesseract import ocr_words

    ocr_words(np.full((40, 200), 255, np.uint8), lang="ind", psm=7)
    (argv,) = argv_log
    assert argv[:3] == ["tesseract", "stdin", "stdout"]  # the image goes in on stdin


# Names an attacker (or an unlucky scanner) might produce; each is listed in manifest.csv.
WEIRD = [
    "-rf.jpg",
    "--help.pdf",
    "-",  # not a supported extension: ignored, never read
    "TPS 026 – Désa Ñusantara 表 (copy).jpg",
    "it's \"quoted\".jpg",
    "a;b&&c|d.jpg",
    "$(touch PWNED) `touch PWNED2`.jpg",
    "-r/-x.jpg",  # a folder with a leading dash
]


def test_hostile_names_through_the_whole_pipeline(tmp_path: Path, scans, argv_log, monkeypatch,
                                                  reader) -> None:
    from flows.pipeline import run_pipeline

    src = tmp_path / "in"
    (src / "-r").mkdir(parents=True)
    rows = []
    files = iter([scans.page(c, p) for c in (0, 1) for p in (1, 2, 3)])
    for name in WEIRD:
        if name == "--help.pdf":  # one whole form as a PDF
            (src / name).write_bytes(pdf_of_images([scans.page(2, 1), scans.page(2, 2), scans.page(2, 3)],
                                                   dpi=200))
            rows.append([name, scans.codes[2], "ppwp", ""])
        elif name == "-":
            (src / name).write_bytes(b"not a scan")
        else:
            f = next(files)
            (src / name).write_bytes(f.read_bytes())
            code, _, page = f.stem.split("_")
            rows.append([name, code, "ppwp", page[1:]])
    buf = io.StringIO()
    csv.writer(buf).writerows([["file", "tps_code", "form_type", "page"], *rows])
    (src / "manifest.csv").write_text(buf.getvalue(), encoding="utf-8")

    monkeypatch.chdir(tmp_path)  # relative paths would resolve here: nothing may appear
    result, release = run_pipeline(src, tmp_path / "releases", Settings(workers=1))
    by_name = assert_accounted(release, src)
    assert set(by_name) == {n for n in WEIRD if n != "-"}
    assert result.ignored_files == ["-"]
    for name, f in by_name.items():
        assert f["status"] in (Status.VERIFIED, Status.NEEDS_REVIEW), (name, f)
    forms = {(f.region_code, f.form_type.value) for f in result.forms}
    assert forms == {(c, "ppwp") for c in scans.codes}
    assert not list(tmp_path.rglob("PWNED*"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "releases"]

    tools = {argv[0] for argv in argv_log}
    assert {"pdfinfo", "pdftoppm", "tesseract"} <= tools
    for argv in argv_log:
        if argv[0] in ("pdfinfo", "pdftoppm"):
            assert argv[-1] == str((src / "--help.pdf").resolve())
        else:
            assert not any(name in a for a in argv for name in WEIRD if name != "-")

"""Fixtures of the hostile-input tests: a few valid scans from the generator (made once per
session), the digit reader, and one-file folders to run a case through the pipeline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from synth.generate import GenerateOptions, generate_batch


@pytest.fixture(scope="session")
def reader():
    from extract.process import default_reader

    try:
        return default_reader()
    except FileNotFoundError as exc:  # the model is trained and shipped by `make model`
        pytest.skip(f"digit model not available: {exc}")


class Scans:
    """Three PPWP forms (three pages each, scan quality), one image file per page."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = sorted(p for p in root.iterdir() if p.suffix in (".jpg", ".png"))
        self.codes = sorted({p.name.split("_")[0] for p in self.files})

    def page(self, code_index: int, page: int) -> Path:
        code = self.codes[code_index]
        (p,) = [f for f in self.files if f.name.startswith(f"{code}_ppwp_p{page}.")]
        return p


@pytest.fixture(scope="session")
def scans(tmp_path_factory: pytest.TempPathFactory) -> Scans:
    out = tmp_path_factory.mktemp("hostile-scans")
    # seed 4: three forms of three TPS with different TPS numbers, written as images (no PDF).
    # The procedural hand: the same files with or without ../shared/handwriting.
    generate_batch(GenerateOptions(out_dir=out, forms=3, province="32", seed=4, quality="scan",
                                   form_types=["ppwp"], inconsistent_rate=0.0, procedural=True, workers=2))
    s = Scans(out)
    assert len(s.codes) == 3 and len(s.files) == 9, s.files
    assert len({c[10:] for c in s.codes}) == 3  # TPS numbers differ: a foreign page is visible
    return s


@pytest.fixture
def folder(tmp_path: Path):
    """``folder({name: bytes or a file to copy})``: a fresh input folder holding exactly these files."""
    counter = iter(range(1000))

    def make(files: dict[str, bytes | Path]) -> Path:
        d = tmp_path / f"in{next(counter)}"
        d.mkdir()
        for name, content in files.items():
            if isinstance(content, Path):
                shutil.copyfile(content, d / name)
            else:
                (d / name).write_bytes(content)
        return d

    return make

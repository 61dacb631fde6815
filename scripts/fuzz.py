"""Fuzz the file intake: seeded corruptions of valid scans and PDFs through ``process_file``.

    .venv/bin/python scripts/fuzz.py --cases 1000 [--seed 1] [--keep DIR]

Prints the outcome counts per reason; exits 1 if any case crashed (an exception escaped
``process_file`` or a file ended ``internal_error``), listing each crash with the file that caused
it (kept under ``--keep``; a temporary folder otherwise, removed unless a case crashed).
The case logic lives in ``tests/hostile/fuzzing.py`` (the test suite runs 100 cases of it).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "hostile"))

from fuzzing import fuzz_settings, make_sources, run_fuzz  # noqa: E402

from synth.generate import GenerateOptions, generate_batch  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="folder for the generated and corrupted files")
    args = ap.parse_args()

    from extract.process import default_reader

    try:
        reader = default_reader()
    except FileNotFoundError as exc:
        print(f"the digit model is missing ({exc}): run `make model` first", file=sys.stderr)
        return 2
    work = args.keep or Path(tempfile.mkdtemp(prefix="pindai-fuzz-"))
    work.mkdir(parents=True, exist_ok=True)
    scans = work / "scans"
    if not scans.exists():
        # The same three forms as tests/hostile (seed 4: every page an image file).
        generate_batch(GenerateOptions(out_dir=scans, forms=3, province="32", seed=4, quality="scan",
                                       form_types=["ppwp"], inconsistent_rate=0.0, procedural=True, workers=2))
    code = sorted(scans.glob("*_ppwp_p1.jpg"))[0].name.split("_")[0]
    pages = sorted(scans.glob(f"{code}_ppwp_p*.jpg"))
    sources = make_sources(pages, code)
    t0 = time.perf_counter()

    def progress(case) -> None:  # noqa: ANN001
        if (case.index + 1) % 100 == 0 or case.crash:
            print(f"  {case.index + 1}/{args.cases} cases, {time.perf_counter() - t0:.0f} s"
                  + (f"  CRASH: {case.crash}" if case.crash else ""), file=sys.stderr, flush=True)

    report = run_fuzz(sources, args.cases, args.seed, work / f"cases-seed{args.seed}", fuzz_settings(), reader,
                      progress)
    print(report.summary())
    if report.crashes or args.keep:
        print(f"files: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if report.crashes else 0


if __name__ == "__main__":
    sys.exit(main())

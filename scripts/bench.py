"""``make bench``: pindai's speed, memory, Prefect overhead and accuracy -> BENCHMARKS.md.

Every measurement runs in a fresh subprocess (``--child``), so memory is the run's own and no
warm state leaks between runs; the parent samples the child's process tree for peak memory.
Generated batches are cached under ``.bench/batches/<params>`` (git-ignored): a rerun skips
generation. Ratios (pindai / decode floor, Prefect / plain, pindai / Tesseract) are always taken
between measurements of the same run.

Usage: .venv/bin/python scripts/bench.py [--quick] [--only SECTION,...] [--out BENCHMARKS.md]
Sections: throughput, memory, baseline, prefect, accuracy, profile.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / ".bench"
PY = sys.executable
PROVINCE = "32"
SECTIONS = ("throughput", "memory", "baseline", "prefect", "accuracy", "profile")

# Sizes chosen so the whole bench (cached batches) stays within 20 minutes on 2 cores.
FULL = dict(scan_forms=667, tput_forms=100, pdf_forms=60, photo_forms=50, small_forms=34, prefect_forms=167,
            acc_forms=500, baseline_forms=2, profile_files=15)
QUICK = dict(scan_forms=40, tput_forms=12, pdf_forms=6, photo_forms=4, small_forms=6, prefect_forms=12,
             acc_forms=24, baseline_forms=1, profile_files=4)
SEEDS = dict(scan=101, mixed=202)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- batches

def gen_command(out: str, forms: int, seed: int, quality: str) -> str:
    return (f"pindai generate {out} --forms {forms} --province {PROVINCE} --seed {seed} --form-type ppwp "
            f"--quality {quality}")


def batch(quality: str, forms: int) -> tuple[Path, float]:
    """A generated ppwp batch, cached by its parameters. Returns (folder, seconds spent generating)."""
    seed = SEEDS["mixed" if quality == "mixed" else "scan"]
    out = BENCH / "batches" / f"ppwp-{quality}-p{PROVINCE}-n{forms}-s{seed}"
    if (out / ".complete").exists():
        return out, 0.0
    from synth.generate import GenerateOptions, generate_batch

    shutil.rmtree(out, ignore_errors=True)
    log(f"generating {forms} {quality} forms into {out.relative_to(REPO)} (cached for later runs)")
    t0 = time.perf_counter()
    generate_batch(GenerateOptions(out_dir=out, forms=forms, province=PROVINCE, seed=seed, quality=quality,
                                   workers=2))
    (out / ".complete").write_text(gen_command(str(out), forms, seed, quality) + "\n")
    return out, time.perf_counter() - t0


def truths(folder: Path) -> list:
    from load.evaluate import load_truth

    return load_truth(folder / "truth.jsonl")


def subset(src: Path, name: str, keep) -> Path:  # noqa: ANN001
    """Hard links to the files of the truth forms ``keep`` selects (same bytes, no copies)."""
    out = BENCH / "subsets" / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    lines = []
    for t in truths(src):
        if not keep(t):
            continue
        for f in dict.fromkeys(p.file for p in t.pages):
            os.link(src / f, out / f)
        lines.append(t.model_dump_json())
    (out / "truth.jsonl").write_text("".join(line + "\n" for line in lines), "utf-8")
    return out


def first(n: int, pred):  # noqa: ANN001, ANN201
    """A predicate that accepts the first ``n`` forms ``pred`` accepts."""
    seen = [0]

    def keep(t) -> bool:  # noqa: ANN001
        if seen[0] < n and pred(t):
            seen[0] += 1
            return True
        return False
    return keep


def is_200dpi_image(t) -> bool:  # noqa: ANN001
    return all(p.dpi == 200 and not p.file.endswith(".pdf") for p in t.pages)


def pdf_subset(src: Path, name: str, n: int) -> Path:
    """The first ``n`` 200-dpi scanned forms of ``src`` as one image-only PDF per form (the pages'
    own JPEG/PNG pixels, at 200 dpi), like an archive's multi-page scans."""
    from PIL import Image

    out = BENCH / "subsets" / name
    if (out / ".complete").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    keep = first(n, is_200dpi_image)
    lines = []
    for t in truths(src):
        if not keep(t):
            continue
        ims = [Image.open(src / p.file) for p in t.pages]
        pdf = f"{t.region_code}_{t.form_type.value}.pdf"
        extra = {} if any(im.mode == "1" for im in ims) else {"quality": 85}
        ims[0].save(out / pdf, "PDF", save_all=True, append_images=ims[1:], resolution=200.0, **extra)
        pages = [p.model_copy(update={"file": pdf, "page_index": i}) for i, p in enumerate(t.pages)]
        lines.append(t.model_copy(update={"pages": pages}).model_dump_json())
    (out / "truth.jsonl").write_text("".join(line + "\n" for line in lines), "utf-8")
    (out / ".complete").write_text("")
    return out


def n_pages(folder: Path) -> int:
    return sum(len(t.pages) for t in truths(folder))


# --------------------------------------------------------------------------- children

def _tree_rss(proc) -> int:  # noqa: ANN001
    total = 0
    try:
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except Exception:  # a worker that just exited
                pass
    except Exception:
        pass
    return total


def run_child(spec: dict, env: dict | None = None, timeout: float = 900) -> dict:
    """Run ``spec`` in a fresh interpreter; returns its result plus wall (incl. start-up) and the
    peak resident memory of its whole process tree (sampled every 50 ms)."""
    import psutil

    res_file = Path(tempfile.mkstemp(prefix="bench-", suffix=".json", dir=BENCH)[1])
    spec = {**spec, "result": str(res_file)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([PY, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
                            env={**os.environ, **(env or {})}, cwd=REPO)
    ps = psutil.Process(proc.pid)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss(ps))
            stop.wait(0.05)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        rc = proc.wait(timeout=timeout)
    finally:
        stop.set()
        th.join()
        if proc.poll() is None:
            proc.kill()
    wall = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"bench child failed (exit {rc}): {spec}")
    out = json.loads(res_file.read_text())
    res_file.unlink()
    out.update(process_wall=wall, peak_tree_rss_mb=peak / 2**20)
    return out


def _rusage() -> dict:
    import resource

    return {"self_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "children_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def _stage_seconds(outcomes) -> dict:  # noqa: ANN001
    sums: dict[str, float] = defaultdict(float)
    pages = boxes = 0
    for oc in outcomes:
        for p in oc.pages:
            pages += 1
            boxes += sum(len(f.digits) for f in p.fields)
            for k, v in p.seconds.items():
                sums[k] += v
    return {"stage_sums": dict(sums), "read_pages": pages, "boxes": boxes}


def child_pipeline(spec: dict) -> dict:
    """run_pipeline's body (flows.pipeline), with a timer around each step."""
    from extract.plan import plan_batch
    from flows.pipeline import finish, process_plan
    from load.release import publish
    from schemas.settings import Settings

    settings = Settings.from_env(workers=spec["workers"])
    inp, rel = Path(spec["input"]), Path(spec["releases"])
    t0 = time.perf_counter()
    plan = plan_batch(inp)
    t1 = time.perf_counter()
    outcomes = process_plan(plan, settings)
    t2 = time.perf_counter()
    result = finish(plan, outcomes)
    t3 = time.perf_counter()
    release = publish(result, rel, inp)
    t4 = time.perf_counter()
    statuses: dict[str, int] = defaultdict(int)
    for f in result.forms:
        statuses[f.status.value] += 1
    return {"wall": t4 - t0, "plan": t1 - t0, "process": t2 - t1, "validate": t3 - t2, "write": t4 - t3,
            "pages": sum(len(o.pages) + len(o.rejected_pages) for o in outcomes), "files": len(outcomes),
            "release": str(release), "forms": dict(statuses), **_stage_seconds(outcomes), **_rusage()}


def _decode_one(path: str) -> int:
    import cv2

    from extract.decode import decode_file
    from schemas.settings import Settings

    cv2.setNumThreads(1)
    s = Settings()
    return sum(1 for pg in decode_file(Path(path), s.limits, s.read) if pg.gray.size)


def child_decode(spec: dict) -> dict:
    """The floor: decode (or rasterise) every page of every file, nothing else."""
    from concurrent.futures import ProcessPoolExecutor

    from extract.ingest import discover

    root = Path(spec["input"])
    files = [str(root / f) for f in discover(root).files]
    t0 = time.perf_counter()
    if spec["workers"] <= 1:
        pages = sum(map(_decode_one, files))
    else:
        with ProcessPoolExecutor(max_workers=spec["workers"]) as pool:
            pages = sum(pool.map(_decode_one, files, chunksize=4))
    return {"wall": time.perf_counter() - t0, "pages": pages, "files": len(files), **_rusage()}


def child_prefect(spec: dict) -> dict:
    """digitize_batch (the Prefect flow) on a running server, cache off."""
    t0 = time.perf_counter()
    from flows.digitize import digitize_batch

    t1 = time.perf_counter()
    res = digitize_batch(spec["input"], spec["releases"], workers=spec["workers"], use_cache=False)
    t2 = time.perf_counter()
    return {"wall": t2 - t1, "import": t1 - t0, "release": res["release"], **_rusage()}


def child_noop_flows(spec: dict) -> dict:
    """Two no-op flows in a fresh process: the first pays Prefect's (ephemeral) server start-up."""
    t0 = time.perf_counter()
    import flows  # noqa: F401  (pindai's Prefect environment)
    from prefect import flow

    @flow(name="bench-noop")
    def noop() -> int:
        return 1

    t1 = time.perf_counter()
    noop()
    t2 = time.perf_counter()
    noop()
    t3 = time.perf_counter()
    return {"import": t1 - t0, "first": t2 - t1, "second": t3 - t2}


def child_profile(spec: dict) -> dict:
    """cProfile of process_file over a sample of files, one process."""
    import cv2

    from extract.plan import plan_batch
    from extract.process import default_reader, process_file
    from schemas.settings import Settings

    cv2.setNumThreads(1)
    settings = Settings.from_env(workers=1)
    items = plan_batch(Path(spec["input"])).items[: spec["files"]]
    reader = default_reader()
    process_file(items[0], settings, reader)  # warm-up: model load, layouts, first-call caches
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    pages = sum(len(process_file(it, settings, reader).pages) for it in items)
    prof.disable()
    wall = time.perf_counter() - t0
    out = {}
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key).print_stats(18)
        text = buf.getvalue()
        out[key] = text[text.find("   ncalls"):].rstrip()
    # process_file reads header crops only when handed a list; the chunk does the OCR in one batch.
    return {"wall": wall, "pages": pages, "files": len(items), **out}


CHILDREN = {"pipeline": child_pipeline, "decode": child_decode, "prefect": child_prefect,
            "noop": child_noop_flows, "profile": child_profile}


# --------------------------------------------------------------------------- measurements

class Bench:
    def __init__(self, sizes: dict, only: set[str]) -> None:
        self.sizes = sizes
        self.only = only
        self.r: dict = {"sizes": sizes, "generation_seconds": {}}
        self.t_start = time.perf_counter()

    def want(self, section: str) -> bool:
        return section in self.only

    def releases(self, name: str) -> Path:
        p = BENCH / "releases" / name
        shutil.rmtree(p, ignore_errors=True)
        return p

    def pipeline(self, name: str, inp: Path, workers: int) -> dict:
        log(f"pipeline {name}: {inp.relative_to(REPO)} ({n_pages(inp)} pages), {workers} worker(s)")
        res = run_child({"kind": "pipeline", "input": str(inp), "releases": str(self.releases(name)),
                         "workers": workers})
        res["pages_per_s"] = res["pages"] / res["wall"]
        log(f"  {res['pages']} pages in {res['wall']:.1f} s = {res['pages_per_s']:.2f} pages/s, "
            f"peak {res['peak_tree_rss_mb']:.0f} MB")
        return res

    def decode(self, inp: Path, workers: int) -> dict:
        res = run_child({"kind": "decode", "input": str(inp), "workers": workers})
        res["pages_per_s"] = res["pages"] / res["wall"]
        log(f"decode floor {inp.name} w{workers}: {res['pages']} pages in {res['wall']:.1f} s")
        return res

    def batches(self) -> None:
        s = self.sizes
        need_scan = self.only & {"throughput", "memory", "baseline", "prefect", "profile"}
        need_mixed = self.only & {"throughput", "accuracy"}
        if need_scan:
            self.scan, g = batch("scan", s["scan_forms"])
            self.r["generation_seconds"]["scan"] = g
            self.scan200 = subset(self.scan, "scan200", first(s["tput_forms"], is_200dpi_image))
        if need_mixed:
            self.mixed, g = batch("mixed", s["acc_forms"])
            self.r["generation_seconds"]["mixed"] = g

    def throughput(self) -> None:
        s = self.sizes
        photos = subset(self.mixed, "photos", first(s["photo_forms"], lambda t: t.pages[0].quality == "photo"
                                                    and not any(p.file.endswith(".pdf") for p in t.pages)))
        pdfs = pdf_subset(self.scan, f"pdf200-{s['pdf_forms']}", s["pdf_forms"])
        out = {}
        for kind, folder in (("scan200", self.scan200), ("photo", photos), ("pdf200", pdfs)):
            for w in (1, 2):
                out[f"{kind}-w{w}"] = {"pindai": self.pipeline(f"{kind}-w{w}", folder, w),
                                       "decode": self.decode(folder, w)}
        self.r["throughput"] = out
        self.r["throughput_dirs"] = {"scan200": str(self.scan200), "photo": str(photos), "pdf200": str(pdfs)}

    def memory(self) -> None:
        small = subset(self.scan, f"scan-first{self.sizes['small_forms']}", first(self.sizes["small_forms"],
                                                                                 lambda t: True))
        self.r["memory"] = {"small": self.pipeline("mem-small", small, 2), "large": self.pipeline("mem-large",
                                                                                                   self.scan, 2)}

    def baseline(self) -> None:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from baseline_tesseract import run_baseline

        from load.evaluate import find_records, load_records, score

        k = self.sizes["baseline_forms"]
        base_dir = subset(self.scan200, f"baseline-{k}", first(k, lambda t: True))
        pages = n_pages(base_dir)
        log(f"Tesseract baseline on {pages} pages (one process per box, 2 at a time)")
        b = run_baseline(base_dir, max_pages=pages, workers=2)
        log(f"  {b.boxes} boxes in {b.tesseract_seconds:.1f} s, {100 * (b.accuracy or 0):.1f}% right")
        # pindai on the same pages: read by the pipeline over the same files (2 workers).
        p = self.pipeline("baseline-pindai", base_dir, 2)
        rep = score(load_records(find_records(Path(p["release"]))), truths(base_dir))
        self.r["baseline"] = {"tesseract": b.as_dict(), "pindai": p,
                              "pindai_digits": rep.overall.digits.model_dump(),
                              "pindai_symbols": rep.overall.symbols.model_dump()}

    def prefect(self) -> None:
        n = self.sizes["prefect_forms"]
        folder = subset(self.scan, f"scan-first{n}", first(n, lambda t: True))
        home = Path(tempfile.mkdtemp(prefix="prefect-home-", dir=BENCH))
        env = {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
               "PREFECT_LOGGING_LEVEL": "WARNING"}
        out: dict = {}
        try:
            # Ephemeral: what `pindai run` pays per run without a server (database migrated first,
            # as `make setup` does for the project's own PREFECT_HOME).
            subprocess.run([str(Path(PY).parent / "prefect"), "server", "database", "upgrade", "-y"],
                           env={**os.environ, **env}, check=True, capture_output=True, timeout=300)
            log("Prefect: two no-op flows on the ephemeral server")
            eph_env = {**env, "PREFECT_API_URL": "", "PREFECT_SERVER_EPHEMERAL_ENABLED": "true"}
            out["ephemeral"] = run_child({"kind": "noop"}, env=eph_env)
            port = _free_port()
            log(f"Prefect: starting `prefect server start` on 127.0.0.1:{port}")
            t0 = time.perf_counter()
            server = subprocess.Popen([str(Path(PY).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
                                       "--port", str(port)], env={**os.environ, **env}, start_new_session=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                api = f"http://127.0.0.1:{port}/api"
                _wait_health(api, 180)
                out["server_start"] = time.perf_counter() - t0
                srv_env = {**env, "PREFECT_API_URL": api}
                out["server_noop"] = run_child({"kind": "noop"}, env=srv_env)
                out["plain"] = self.pipeline("prefect-plain", folder, 2)
                log(f"Prefect flow digitize_batch on {n_pages(folder)} pages, 2 workers, cache off")
                pf = run_child({"kind": "prefect", "input": str(folder), "releases": str(self.releases("prefect")),
                                "workers": 2}, env=srv_env)
                pf["pages_per_s"] = out["plain"]["pages"] / pf["wall"]
                log(f"  {pf['wall']:.1f} s (plain {out['plain']['wall']:.1f} s)")
                out["flow"] = pf
            finally:
                os.killpg(server.pid, signal.SIGTERM)  # the server and its uvicorn child, started above
                try:
                    server.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        self.r["prefect"] = out

    def accuracy(self) -> None:
        from load.evaluate import evaluate_release, save_report

        p = self.pipeline("accuracy", self.mixed, 2)
        rep = evaluate_release(Path(p["release"]), self.mixed / "truth.jsonl")
        paths = save_report(rep, BENCH / "eval")
        self.r["accuracy"] = {"run": p, "report": rep, "paths": {k: str(v) for k, v in paths.items()}}

    def profile(self) -> None:
        log("profile: cProfile of process_file, one process")
        self.r["profile"] = run_child({"kind": "profile", "input": str(self.scan200),
                                       "files": self.sizes["profile_files"]})

    def run(self) -> dict:
        self.r["started"] = datetime.now(UTC).isoformat(timespec="seconds")
        self.r["load_before"] = os.getloadavg()
        self.batches()
        self.r["setup_seconds"] = time.perf_counter() - self.t_start
        for section in SECTIONS:
            if self.want(section):
                t0 = time.perf_counter()
                getattr(self, section)()
                self.r.setdefault("section_seconds", {})[section] = time.perf_counter() - t0
        self.r["load_after"] = os.getloadavg()
        self.r["total_seconds"] = time.perf_counter() - self.t_start
        return self.r


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_health(api: str, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"Prefect server at {api} not healthy after {timeout:g} s")


# --------------------------------------------------------------------------- report

def machine() -> dict:
    from extract.process import default_reader
    from schemas.version import pipeline_version

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return ""
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    dirty = len([x for x in git("status", "--porcelain").splitlines() if x.strip()])
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gb": round(mem, 1), "python": platform.python_version(),
            "commit": git("rev-parse", "--short", "HEAD"), "dirty_files": dirty,
            "model": default_reader().version, "pipeline": pipeline_version(),
            "tesseract": _tesseract_version()}


def _tesseract_version() -> str:
    from extract._exec.tesseract import version

    try:
        return version()
    except Exception:  # not installed: the baseline section says so
        return "not installed"


if __name__ == "__main__" and "--child" in sys.argv:
    _spec = json.loads(sys.argv[sys.argv.index("--child") + 1])
    _res = CHILDREN[_spec["kind"]](_spec)
    Path(_spec["result"]).write_text(json.dumps(_res, default=str))
    sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="pindai benchmarks -> BENCHMARKS.md")
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke test of the bench itself)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    ap.add_argument("--out", type=Path, default=None, help="default: BENCHMARKS.md (full) or .bench/BENCHMARKS-quick.md")
    a = ap.parse_args(argv)
    only = {x.strip() for x in a.only.split(",") if x.strip()}
    if only - set(SECTIONS):
        ap.error(f"unknown sections {sorted(only - set(SECTIONS))}")
    BENCH.mkdir(exist_ok=True)
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    argv_shown = " ".join(["scripts/bench.py", *(argv if argv is not None else sys.argv[1:])])
    sizes = QUICK if a.quick else FULL
    r = Bench(sizes, only).run()
    r["machine"] = machine()
    r["command"] = f".venv/bin/python {argv_shown}".strip()
    out = a.out or (BENCH / "BENCHMARKS-quick.md" if a.quick else REPO / "BENCHMARKS.md")
    out.write_text(render(r), "utf-8")
    (BENCH / "last-run.json").write_text(json.dumps(r, indent=1, default=_json_default))
    log(f"wrote {out} ({r['total_seconds'] / 60:.1f} min)")
    return 0


def _json_default(o: object) -> object:
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json")
    return str(o)


if __name__ == "__main__":
    sys.exit(main())

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
SECTIONS = ("throughput", "memory", "baseline", "prefect", "accuracy", "shifts", "unseen", "learning", "profile")

# Sizes chosen so the whole bench (cached batches) stays within 20 minutes on 2 cores.
FULL = dict(scan_forms=667, tput_forms=50, pdf_forms=30, photo_forms=20, small_forms=34, prefect_forms=167,
            acc_forms=500, baseline_forms=2, profile_files=15, unseen_forms=100)
QUICK = dict(scan_forms=40, tput_forms=12, pdf_forms=6, photo_forms=4, small_forms=6, prefect_forms=12,
             acc_forms=24, baseline_forms=1, profile_files=4, unseen_forms=8)
SEEDS = dict(scan=101, mixed=202, unseen=303)
# The cross-source model that never saw MNIST (scripts/train_digits.py, variant no-mnist), committed for
# this measurement only: the pipeline reads with it on a batch written by MNIST writers.
UNSEEN_MODEL = REPO / "training" / "cross-source" / "no-mnist"
UNSEEN_SOURCE = "mnist"
SAMPLE_S = 0.2  # memory sampling period (the sampler itself costs ~1% of a core at this rate)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- batches

def gen_command(out: str, forms: int, seed: int, quality: str) -> str:
    return (f"pindai generate {out} --forms {forms} --province {PROVINCE} --seed {seed} --form-type ppwp "
            f"--quality {quality}")


def batch_dir(quality: str, forms: int) -> Path:
    seed = SEEDS["mixed" if quality == "mixed" else "scan"]
    return BENCH / "batches" / f"ppwp-{quality}-p{PROVINCE}-n{forms}-s{seed}"


def generation_cost(quality: str, forms: int) -> float | None:
    """Seconds the cached batch took to generate (recorded in its ``.complete`` marker)."""
    try:
        lines = (batch_dir(quality, forms) / ".complete").read_text().splitlines()
    except OSError:
        return None
    return next((float(x.split("=", 1)[1]) for x in lines if x.startswith("seconds=")), None)


def batch(quality: str, forms: int) -> tuple[Path, float]:
    """A generated ppwp batch, cached by its parameters. Returns (folder, seconds spent generating now)."""
    seed = SEEDS["mixed" if quality == "mixed" else "scan"]
    out = batch_dir(quality, forms)
    if (out / ".complete").exists():
        return out, 0.0
    from synth.generate import GenerateOptions, generate_batch

    shutil.rmtree(out, ignore_errors=True)
    log(f"generating {forms} {quality} forms into {out.relative_to(REPO)} (cached for later runs)")
    t0 = time.perf_counter()
    generate_batch(GenerateOptions(out_dir=out, forms=forms, province=PROVINCE, seed=seed, quality=quality,
                                   workers=2))
    seconds = time.perf_counter() - t0
    (out / ".complete").write_text(f"{gen_command(str(out), forms, seed, quality)}\nseconds={seconds:.1f}\n")
    return out, seconds


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

def _pss_bytes(pid: int) -> int | None:
    """Proportional set size from /proc/PID/smaps_rollup (a page shared by forked workers counts once,
    split between them); cheap enough to read every few hundred milliseconds."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _tree_memory(proc) -> int:  # noqa: ANN001
    """Bytes the process tree holds: PSS, or RSS where PSS cannot be read."""
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except Exception:  # the child just exited
        return 0
    for p in procs:
        pss = _pss_bytes(p.pid)
        if pss is None:
            try:
                pss = p.memory_info().rss
            except Exception:  # a worker that just exited
                pss = 0
        total += pss
    return total


def run_child(spec: dict, env: dict | None = None, timeout: float = 1200, name: str | None = None) -> dict:
    """Run ``spec`` in a fresh interpreter; returns its result plus wall (incl. start-up) and the
    peak memory of its whole process tree (sampled every SAMPLE_S). Its output goes to
    ``.bench/logs/<name>.log``."""
    import psutil

    res_file = Path(tempfile.mkstemp(prefix="bench-", suffix=".json", dir=BENCH)[1])
    spec = {**spec, "result": str(res_file)}
    logs = BENCH / "logs"
    logs.mkdir(exist_ok=True)
    log_path = logs / f"{name or spec['kind']}.log"
    t0 = time.perf_counter()
    with open(log_path, "wb") as log_fh:
        proc = subprocess.Popen([PY, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
                                env=_environ(env), cwd=REPO, stdout=log_fh, stderr=subprocess.STDOUT)
    ps = psutil.Process(proc.pid)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_memory(ps))
            stop.wait(SAMPLE_S)

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
        tail = log_path.read_text("utf-8", "replace")[-3000:]
        raise RuntimeError(f"bench child failed (exit {rc}): {spec}\n{tail}")
    out = json.loads(res_file.read_text())
    res_file.unlink()
    out.update(process_wall=wall, peak_tree_mb=peak / 2**20)
    return out


def _environ(extra: dict | None) -> dict:
    """os.environ with ``extra`` applied; a None value removes the variable."""
    env = {**os.environ, **(extra or {})}
    return {k: v for k, v in env.items() if v is not None}


def _rusage() -> dict:
    import resource

    import psutil

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of the whole run (parent + every worker and tool it waited for): unlike wall time,
    # hardly changed by other programs competing for the cores. Reading workers are children of the
    # still-running fork server (extract.pool), which reaped them: its own and its children's CPU count.
    live = 0.0
    for c in psutil.Process().children():
        try:
            t = c.cpu_times()
            live += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return {"self_maxrss_mb": me.ru_maxrss / 1024, "children_maxrss_mb": kids.ru_maxrss / 1024,
            "cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime + live}


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
    from load.lineage import publish_from_parent
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
    release = publish_from_parent(result, rel, inp, "run")
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
    from flows.env import configure_prefect

    configure_prefect()  # pindai's Prefect environment, before Prefect is imported
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
    """cProfile of one chunk of files in one process: ``process_chunk`` runs ``process_file`` on each
    file (decode, register, read) and then the chunk's header OCR in one Tesseract call."""
    from extract.plan import plan_batch
    from extract.process import process_chunk
    from schemas.settings import Settings

    settings = Settings.from_env(workers=1)
    items = plan_batch(Path(spec["input"])).items
    process_chunk(items[-1:], settings)  # warm-up: model load, layouts, first-call caches
    items = items[: spec["files"]]
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    outcomes = process_chunk(items, settings)
    prof.disable()
    wall = time.perf_counter() - t0
    out = {}
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key).print_stats(20)
        text = buf.getvalue()
        out[key] = text[text.find("   ncalls"):].rstrip()
    return {"wall": wall, "pages": sum(len(o.pages) for o in outcomes), "files": len(items), **out,
            "stage_cpu": stage_cpu_per_page(Path(spec["input"]))}


def stage_cpu_per_page(folder: Path, passes: int = 3) -> dict:
    """Steady-state CPU ms per page of decode, register and read (this process, one thread, warm),
    ``passes`` passes over every image of ``folder``: the per-page cost issue #4 states, without
    the pipeline's one-time start-up (model and layout loading) and the parent's work beside it."""
    import cv2
    import numpy as np

    from extract.digits import DigitReader
    from extract.geometry import page_map
    from extract.read_page import read_fields
    from extract.register import register_page
    from schemas.layout import load_layout

    cv2.setNumThreads(1)
    reader = DigitReader()
    data = [f.read_bytes() for f in sorted(folder.iterdir()) if f.suffix in (".jpg", ".png")]

    def one(raw: bytes) -> tuple[float, float, float]:
        c0 = time.process_time()
        gray = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_GRAYSCALE)
        c1 = time.process_time()
        reg = register_page(gray)
        c2 = time.process_time()
        read_fields(gray, page_map(reg), load_layout(reg.form_type).pages[reg.page - 1], reader,
                    box_quality=reg.box_quality)
        return c1 - c0, c2 - c1, time.process_time() - c2

    one(data[0])  # warm-up
    out: dict[str, list[float]] = {"decode": [], "register": [], "read": []}
    for _ in range(passes):
        sums = np.sum([one(raw) for raw in data], axis=0)
        for k, v in zip(out, sums, strict=True):
            out[k].append(round(1000 * float(v) / len(data), 2))
    return {"pages": len(data), "passes": passes, **out}


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
                         "workers": workers}, name=name)
        res["pages_per_s"] = res["pages"] / res["wall"]
        log(f"  {res['pages']} pages in {res['wall']:.1f} s = {res['pages_per_s']:.2f} pages/s, "
            f"peak {res['peak_tree_mb']:.0f} MB")
        return res

    def decode(self, inp: Path, workers: int) -> dict:
        res = run_child({"kind": "decode", "input": str(inp), "workers": workers}, name=f"decode-{inp.name}-w{workers}")
        res["pages_per_s"] = res["pages"] / res["wall"]
        log(f"decode floor {inp.name} w{workers}: {res['pages']} pages in {res['wall']:.1f} s")
        return res

    def batches(self) -> None:
        s = self.sizes
        need_scan = self.only & {"throughput", "memory", "baseline", "prefect", "profile"}
        need_mixed = self.only & {"throughput", "accuracy", "shifts"}
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

        from load.catalogue import open_release
        from load.evaluate import score

        k = self.sizes["baseline_forms"]
        base_dir = subset(self.scan200, f"baseline-{k}", first(k, lambda t: True))
        pages = n_pages(base_dir)
        log(f"Tesseract baseline on {pages} pages (one process per box, 2 at a time)")
        b = run_baseline(base_dir, max_pages=pages, workers=2)
        log(f"  {b.boxes} boxes in {b.tesseract_seconds:.1f} s, {100 * (b.accuracy or 0):.1f}% right")
        # pindai on the same pages: read by the pipeline over the same files (2 workers).
        p = self.pipeline("baseline-pindai", base_dir, 2)
        rep = score(open_release(Path(p["release"])).records, truths(base_dir))
        tp = self.r.get("throughput", {}).get("scan200-w2")
        self.r["baseline"] = {"tesseract": b.as_dict(), "pindai": p,
                              "pindai_pps": tp["pindai"]["pages_per_s"] if tp else None,
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
            eph_env = {**env, "PREFECT_API_URL": None, "PREFECT_SERVER_EPHEMERAL_ENABLED": "true"}
            out["ephemeral"] = run_child({"kind": "noop"}, env=eph_env, name="prefect-ephemeral")
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
                out["server_noop"] = run_child({"kind": "noop"}, env=srv_env, name="prefect-server-noop")
                out["plain"] = self.pipeline("prefect-plain", folder, 2)
                log(f"Prefect flow digitize_batch on {n_pages(folder)} pages, 2 workers, cache off")
                pf = run_child({"kind": "prefect", "input": str(folder), "releases": str(self.releases("prefect")),
                                "workers": 2}, env=srv_env, name="prefect-flow")
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

    def shifts(self) -> None:
        """The packaged reader's test-time shifts (``extract.digits.Jitter``) against the same reader
        without them, both on the accuracy batch, one after the other in this section."""
        from extract.digits import DigitReader
        from extract.model_store import promote
        from load.evaluate import evaluate_release

        reader = DigitReader()
        if reader.jitter is None:
            log("shifts: the packaged model has none; skipped")
            return
        models = Path(tempfile.mkdtemp(prefix="models-", dir=BENCH))
        try:
            plain = {k: v for k, v in reader.meta.items() if k != "jitter"}
            plain["version"] = f"{reader.version}-no-shifts"  # another version: no cache is shared
            promote(models, reader.model_path, plain)
            res = {}
            for name, env in (("without shifts", {"PINDAI_MODELS_DIR": str(models)}),
                              ("with shifts (packaged)", {"PINDAI_MODELS_DIR": str(BENCH / "no-models")})):
                log(f"pipeline shifts, {name}: {self.mixed.relative_to(REPO)} ({n_pages(self.mixed)} pages)")
                p = run_child({"kind": "pipeline", "input": str(self.mixed), "workers": 2,
                               "releases": str(self.releases("shifts-" + name.split()[0]))}, env=env,
                              name="shifts-" + name.split()[0])
                res[name] = {"run": p, "report": evaluate_release(Path(p["release"]), self.mixed / "truth.jsonl")}
            self.r["shifts"] = res
        finally:
            shutil.rmtree(models, ignore_errors=True)

    def unseen_dir(self) -> Path:
        return (BENCH / "batches" /
                f"ppwp-mixed-{UNSEEN_SOURCE}-p{PROVINCE}-n{self.sizes['unseen_forms']}-s{SEEDS['unseen']}")

    def unseen(self) -> None:
        """Handwriting the model never saw: the no-MNIST model reads a batch written only by MNIST writers
        (test split), beside the packaged model on the same pages."""
        from extract.model_store import promote
        from load.evaluate import evaluate_release

        if not (UNSEEN_MODEL / "digits.onnx").exists():
            log(f"unseen: {UNSEEN_MODEL} missing (make model writes it); skipped")
            return
        forms = self.sizes["unseen_forms"]
        out = self.unseen_dir()
        if not (out / ".complete").exists():
            from synth.generate import GenerateOptions, generate_batch

            shutil.rmtree(out, ignore_errors=True)
            log(f"generating {forms} mixed forms written by {UNSEEN_SOURCE} writers only into {out.relative_to(REPO)}")
            t0 = time.perf_counter()
            generate_batch(GenerateOptions(out_dir=out, forms=forms, province=PROVINCE, seed=SEEDS["unseen"],
                                           quality="mixed", sources=[UNSEEN_SOURCE], inconsistent_rate=0.1,
                                           workers=2))
            self.r["generation_seconds"]["unseen"] = time.perf_counter() - t0
            (out / ".complete").write_text(f"seconds={self.r['generation_seconds']['unseen']:.1f}\n")
        models = Path(tempfile.mkdtemp(prefix="models-", dir=BENCH))
        try:
            meta = json.loads((UNSEEN_MODEL / "digits.json").read_text("utf-8"))
            promote(models, UNSEEN_MODEL / "digits.onnx", meta)
            res = {}
            for name, env in (("unseen-no-mnist", {"PINDAI_MODELS_DIR": str(models)}),
                              ("unseen-packaged", {"PINDAI_MODELS_DIR": str(BENCH / "no-models")})):
                log(f"pipeline {name}: {out.relative_to(REPO)} ({n_pages(out)} pages)")
                p = run_child({"kind": "pipeline", "input": str(out), "releases": str(self.releases(name)),
                               "workers": 2}, env=env, name=name)
                rep = evaluate_release(Path(p["release"]), out / "truth.jsonl")
                res[name] = {"run": p, "report": rep, "model": meta["version"] if "no-mnist" in name else "packaged"}
            res["forms"], res["source"], res["model_meta"] = forms, UNSEEN_SOURCE, meta
            self.r["unseen"] = res
        finally:
            shutil.rmtree(models, ignore_errors=True)

    def learning(self) -> None:
        """The stewards' loop on unseen handwriting: the no-MNIST model reads the MNIST-written batch,
        a steward settles every field of the flagged forms (here: the truth), `review apply` stores the
        crops, `pindai model update` fine-tunes and compares on held-out reviewed forms."""
        import csv

        from extract.model_store import last_report, promote
        from load.catalogue import open_release
        from load.evaluate import load_truth

        out = self.unseen_dir()
        if "unseen-no-mnist" not in self.r.get("unseen", {}):
            log("learning: needs the unseen section in the same run; skipped")
            return
        work = Path(tempfile.mkdtemp(prefix="learning-", dir=BENCH))
        try:
            models, reviewed, releases = work / "models", work / "reviewed", work / "releases"
            meta = json.loads((UNSEEN_MODEL / "digits.json").read_text("utf-8"))
            promote(models, UNSEEN_MODEL / "digits.onnx", meta)
            shutil.copytree(Path(self.r["unseen"]["unseen-no-mnist"]["run"]["release"]).parent, releases,
                            symlinks=True)
            truth = {(t.region_code, t.form_type.value): t for t in load_truth(out / "truth.jsonl")}
            rows = []
            for rec in open_release(releases).records:
                t = truth.get((rec.region_code, rec.form_type.value))
                if rec.status.value != "needs_review" or t is None:
                    continue
                for fid, v in t.values.items():
                    if fid in rec.values:
                        rows.append({"region_code": rec.region_code, "form_type": rec.form_type.value,
                                     "field_id": fid, "old_value": "-" if rec.values[fid] is None else rec.values[fid],
                                     "new_value": "-" if v is None else v, "reviewer": "bench-steward",
                                     "reason": "checked against the paper"})
            csv_path = work / "corrections.csv"
            with open(csv_path, "w", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["region_code"])
                w.writeheader()
                w.writerows(rows)
            # one torch thread: the same update on every run (two threads reorder float sums)
            env = {**_environ({"PINDAI_MODELS_DIR": str(models), "PINDAI_REVIEWED_DIR": str(reviewed)})}
            res: dict = {"fields_decided": len(rows), "forms_reviewed": len({(r["region_code"]) for r in rows})}
            for name, cmd in (("review apply", ["review", "apply", str(csv_path), "--releases", str(releases)]),
                              ("model update", ["model", "update", "--threads", "1", "--base-source", "ardis"])):
                log(f"learning: pindai {name}")
                t0 = time.perf_counter()
                cp = subprocess.run([PY, "-m", "flows.cli", *cmd], env=env, cwd=REPO, capture_output=True,
                                    text=True, timeout=1200)
                (BENCH / "logs" / f"learning-{name.replace(' ', '-')}.log").write_text(cp.stdout + cp.stderr)
                res[f"{name} seconds"] = round(time.perf_counter() - t0, 1)
                if cp.returncode != 0:
                    log(f"  exit {cp.returncode}: {cp.stdout[-500:]} {cp.stderr[-500:]}")
                    res["error"] = f"pindai {name} exited {cp.returncode}"
                    break
            rep = last_report(models)
            if rep is not None:
                res["report"] = rep[1]
            self.r["learning"] = res
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def profile(self) -> None:
        log("profile: cProfile of process_file, one process")
        self.r["profile"] = run_child({"kind": "profile", "input": str(self.scan200),
                                       "files": self.sizes["profile_files"]}, name="profile")

    def run(self) -> dict:
        self.r["started"] = datetime.now(UTC).isoformat(timespec="seconds")
        self.r["load_before"] = os.getloadavg()
        self.batches()
        self.r["setup_seconds"] = time.perf_counter() - self.t_start
        for section in SECTIONS:
            if self.want(section):
                t0 = time.perf_counter()
                load0, started = os.getloadavg()[0], datetime.now(UTC).isoformat(timespec="seconds")
                getattr(self, section)()
                self.r.setdefault("section_seconds", {})[section] = time.perf_counter() - t0
                self.r.setdefault("section_runs", {})[section] = {"started": started,
                                                                   "load": [load0, os.getloadavg()[0]]}
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


TARGET_PPS, TARGET_FLOOR, TARGET_BASELINE, TARGET_MEM_GB, TARGET_PREFECT = 25.0, 2.0, 50.0, 1.5, 0.25
TARGET_REG_READ_MS = 40.0  # issue #4: registration plus reading of a 200-dpi scan page, one core
TARGET_SCAN_VERIFIED = 0.90  # issue #5: consistent scan-quality forms verified


def _ok(good: bool) -> str:
    return "met" if good else "**missed**"


def _f(x: float | None, nd: int = 1) -> str:
    return "-" if x is None else f"{x:,.{nd}f}"


def _pct(x: float | None, nd: int = 2) -> str:
    return "-" if x is None else f"{100 * x:.{nd}f}%"


def _rel(p: str | Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(REPO))
    except ValueError:
        return str(p)


def render(r: dict) -> str:  # noqa: C901  (one report, top to bottom)
    m, s = r["machine"], r["sizes"]
    L: list[str] = []
    add = L.append
    gen = r["generation_seconds"]
    costs = [generation_cost(q, s[k]) for q, k in (("scan", "scan_forms"), ("mixed", "acc_forms"))]
    once = sum(c for c in costs if c) if all(costs) else None
    add("# Benchmarks\n")
    via = " (`make bench`)" if r["command"].endswith("bench.py") else ""
    add(f"Written by `{r['command']}`{via} on {r['started']}; the whole run took "
        f"**{r['total_seconds'] / 60:.1f} min** ({sum(gen.values()) / 60:.1f} min of it generating batches; "
        "generated batches are cached in `.bench/batches/`, so a rerun skips that"
        + (f"; generating them the first time took {once / 60:.1f} min on this machine" if once else "")
        + "). Every figure below comes "
        "from this one run; ratios compare measurements of this run only. Rerun one section with "
        "`.venv/bin/python scripts/bench.py --only SECTION` (it replaces that section here and keeps the rest)."
        + (" Sections measured at (UTC): " + ", ".join(f"{k} {v['started'][11:19]}" for k, v in
                                                       r["section_runs"].items()) + "." if r.get("section_runs")
           else "")
        + (f" The last full run (every section, from {r['full_run']['batches']}) took "
           f"**{r['full_run']['seconds'] / 60:.1f} min** ({r['full_run']['started']})." if r.get("full_run") else "")
        + "\n")
    add(f"Machine: {m['cpus']} cores ({m['cpu']}), {m['memory_gb']} GB, Python {m['python']}, {m['tesseract']}. "
        f"Code: commit {m['commit']} + {m['dirty_files']} uncommitted files, pipeline {m['pipeline']}, digit model "
        f"{m['model']}. Load average before/after: {', '.join(f'{x:.2f}' for x in r['load_before'])} / "
        f"{', '.join(f'{x:.2f}' for x in r['load_after'])} (anything above ~0.3 before means something else "
        "was running and the speeds are pessimistic).\n")
    add("Inputs are generated ppwp (C.Hasil PPWP plano, 3 pages) forms of province 32: "
        + "; ".join(f"{q}: `{gen_command('DIR', n, SEEDS['mixed' if q == 'mixed' else 'scan'], q)}`"
                    for q, n in (("scan", s["scan_forms"]), ("mixed", s["acc_forms"])))
        + ". Sizes chosen to keep the bench within 20 minutes on 2 cores: "
        + ", ".join(f"{k}={v}" for k, v in s.items()) + ".\n")

    tp, mem, bl, pf, acc = (r.get(k) for k in ("throughput", "memory", "baseline", "prefect", "accuracy"))
    if acc and isinstance(acc["report"], dict):
        from load.evaluate import EvalReport

        acc = {**acc, "report": EvalReport.model_validate(acc["report"])}
    busy = {k: v["load"] for k, v in r.get("section_runs", {}).items() if max(v["load"]) > 1.0}
    if busy or max(r["load_before"][:1]) > 1.0:
        per = ", ".join(f"{k} {a:.1f}/{b:.1f}" for k, (a, b) in busy.items())
        add("> **Warning: the machine was busy with other work during this run** (1-minute load average "
            f"{r['load_before'][0]:.1f} at the start, {r['load_after'][0]:.1f} at the end"
            + (f"; before/after each section: {per}" if per else "")
            + "; 2 cores). Wall times and pages/s are then pessimistic, and 2 workers may be no faster than "
            "one. The CPU-seconds columns (work done, hardly changed by competition for the cores) say what "
            "the code costs; rerun `make bench` on an idle machine for the real wall-clock figures.\n")
    # ---------------------------------------------------------------- targets
    add("## Targets\n")
    add("| target | measured | |")
    add("|---|---|---|")
    if tp:
        w2 = tp["scan200-w2"]
        pps = w2["pindai"]["pages_per_s"]
        mult = w2["pindai"]["wall"] / w2["decode"]["wall"]
        bound = (f"; CPU-bound {2 * w2['pindai']['pages'] / w2['pindai']['cpu_s']:.1f} pages/s"
                 if "cpu_s" in w2["pindai"] else "")
        add(f"| >= {TARGET_PPS:g} pages/s, 200-dpi scans, 2 workers | {pps:.1f} pages/s "
            f"({pps / TARGET_PPS:.2f}x the target{bound}) | {_ok(pps >= TARGET_PPS)} |")
        cpu_mult = (f"; in CPU time {w2['pindai']['cpu_s'] / w2['decode']['cpu_s']:.1f}x"
                    if "cpu_s" in w2["pindai"] and "cpu_s" in w2["decode"] else "")
        add(f"| wall <= {TARGET_FLOOR:g}x the decode floor (200-dpi scans, 2 workers) | {mult:.1f}x{cpu_mult} | "
            f"{_ok(mult <= TARGET_FLOOR)} |")
        if "scan200-w1" in tp:
            p1 = tp["scan200-w1"]["pindai"]
            st1, n1 = p1["stage_sums"], max(p1["read_pages"], 1)
            # CPU time of the worker in these stages, start-up included (wall time beside it: a busy or
            # virtual machine inflates the wall clock, not the work); steady state from the profile.
            reg_ms = 1000 * st1.get("register_cpu", st1.get("register", 0)) / n1
            read_ms = 1000 * st1.get("read_cpu", st1.get("read", 0)) / n1
            wall_ms = 1000 * (st1.get("register", 0) + st1.get("read", 0)) / n1
            sc = (r.get("profile") or {}).get("stage_cpu")
            steady = None
            if sc:
                tot = sorted(a + b for a, b in zip(sc["register"], sc["read"], strict=True))
                steady = tot[len(tot) // 2]
            shown = steady if steady is not None else reg_ms + read_ms
            add(f"| register + read <= {TARGET_REG_READ_MS:g} ms of CPU per 200-dpi scan page (one core; header "
                f"OCR aside) | " + (f"{steady:.1f} ms steady state (median of {len(tot)} passes, section 1's "
                                    "profile); " if steady is not None else "")
                + f"in the pipeline's worker {reg_ms + read_ms:.1f} ms ({reg_ms:.1f} + {read_ms:.1f}; wall "
                f"{wall_ms:.1f}), start-up included | {_ok(shown <= TARGET_REG_READ_MS)} |")
    if bl:
        sp = _baseline_speedups(bl)
        add(f"| >= {TARGET_BASELINE:g}x faster than Tesseract per box, reading the same registered pages | "
            f"{sp['read']:.0f}x | {_ok(sp['read'] >= TARGET_BASELINE)} |")
        add(f"| (the same, end to end: pindai's whole pipeline against decode + register + Tesseract) | "
            f"{sp['e2e']:.0f}x | {_ok(sp['e2e'] >= TARGET_BASELINE)} |")
    if mem:
        a, b = mem["small"], mem["large"]
        peak = max(a["peak_tree_mb"], b["peak_tree_mb"]) / 1024
        flat = b["peak_tree_mb"] <= 1.5 * a["peak_tree_mb"]
        add(f"| peak memory flat (2,000 pages <= 1.5x 100 pages), <= {TARGET_MEM_GB:g} GB | {a['pages']} pages: "
            f"{a['peak_tree_mb']:.0f} MB; {b['pages']} pages: {b['peak_tree_mb']:.0f} MB "
            f"({b['peak_tree_mb'] / a['peak_tree_mb']:.2f}x) | {_ok(peak <= TARGET_MEM_GB and flat)} |")
    if pf and "flow" in pf:
        ov = pf["flow"]["wall"] / pf["plain"]["wall"] - 1
        add(f"| Prefect within {100 * TARGET_PREFECT:.0f}% of plain | +{100 * ov:.0f}% | {_ok(ov <= TARGET_PREFECT)} |")
    if acc:
        rep = acc["report"]
        add(f"| 0 silent errors (verified and wrong) | {rep.silent_error_count} of {rep.overall.forms} forms | "
            f"{_ok(rep.silent_error_count == 0)} |")
        add(f"| every injected officer mistake flagged | {rep.mistakes_caught} of {rep.mistakes_injected} | "
            f"{_ok(rep.mistakes_caught == rep.mistakes_injected)} |")
        g = rep.consistent_by_quality.get("scan")
        if g is not None and g.forms:
            share = (g.outcomes["verified_right"] + g.outcomes["verified_wrong"]) / g.forms
            add(f"| >= {100 * TARGET_SCAN_VERIFIED:.0f}% of consistent scan forms verified | {share:.1%} "
                f"({g.outcomes['verified_right'] + g.outcomes['verified_wrong']} of {g.forms}) | "
                f"{_ok(share >= TARGET_SCAN_VERIFIED)} |")
    add("")

    # ---------------------------------------------------------------- throughput
    if tp:
        add("## 1. Pages per second, end to end, and the decode floor\n")
        add("pindai = the plain pipeline (`flows.pipeline.run_pipeline`'s steps: plan, read in a process pool, "
            "validate, publish), files in -> release out, timed inside a fresh process (the \"+start\" column "
            "adds the interpreter and imports, what `pindai run --no-prefect` pays on top). Floor = "
            "`extract.decode.decode_file` over every file with the same number of processes, nothing else. "
            "Inputs: "
            + "; ".join(f"{k}: `{_rel(v)}` ({n_pages(Path(v))} pages)" for k, v in r["throughput_dirs"].items())
            + ". 200-dpi scans are the forms of the scan batch whose scanner was set to 200 dpi (A4-equivalent) "
            "and written as JPEG/PNG; the PDFs are the same kind of pages wrapped one form per PDF "
            "(rasterised by pdftoppm); photos are the 12-ish MP phone photos of the mixed batch.\n")
        add("| input | workers | pages | pindai s | pages/s | +start s | floor s | floor pages/s | pindai / floor "
            "| CPU ms/page: pindai / floor | CPU-bound pages/s |")
        add("|---|---|---|---|---|---|---|---|---|---|---|")
        for key, v in tp.items():
            kind, w = key.rsplit("-w", 1)
            p, d = v["pindai"], v["decode"]
            cpu = (f"{1000 * p['cpu_s'] / p['pages']:.0f} / {1000 * d['cpu_s'] / d['pages']:.0f} | "
                   f"{int(w) * p['pages'] / p['cpu_s']:.1f}") if "cpu_s" in p and "cpu_s" in d else "- | -"
            add(f"| {kind} | {w} | {p['pages']} | {p['wall']:.1f} | **{p['pages_per_s']:.1f}** | "
                f"{p['process_wall']:.1f} | {d['wall']:.1f} | {d['pages_per_s']:.1f} | {p['wall'] / d['wall']:.1f}x | "
                f"{cpu} |")
        add("\nCPU ms/page: user + system CPU time of the whole run (parent, workers, pdftoppm, tesseract) per "
            "page. CPU-bound pages/s = workers / CPU seconds per page: what the run would reach if its workers "
            "had their cores to themselves and nothing were serial (an upper bound; wall time is the truth on an "
            "idle machine).")
        add("\nCommand: `.venv/bin/python scripts/bench.py --only throughput` (by hand: `pindai generate ...` as "
            "above, then `pindai run DIR --out RELEASES --no-prefect --workers W`).\n")
        add("### Where the time goes\n")
        add("Per page, inside the worker processes (sums of `PageReading.seconds` over every page read, as in "
            "`records.jsonl`; one worker, so they add up to the wall time), plus the parent's steps:\n")
        add("| input (1 worker) | decode ms | register ms | read ms | header OCR ms | plan ms | validate ms | "
            "write ms | wall ms/page |")
        add("|---|---|---|---|---|---|---|---|---|")
        for key, v in tp.items():
            if not key.endswith("-w1"):
                continue
            p = v["pindai"]
            n, st = max(p["read_pages"], 1), p["stage_sums"]
            add(f"| {key[:-3]} | " + " | ".join(_f(1000 * st.get(k, 0) / n) for k in
                                             ("decode", "register", "read", "header_ocr"))
                + " | " + " | ".join(_f(1000 * p[k] / p["pages"]) for k in ("plan", "validate", "write"))
                + f" | {1000 * p['wall'] / p['pages']:.1f} |")
        w2 = tp["scan200-w2"]
        pps = w2["pindai"]["pages_per_s"]
        st = tp["scan200-w1"]["pindai"]["stage_sums"]
        n1 = max(tp["scan200-w1"]["pindai"]["read_pages"], 1)
        biggest = sorted(((k, v) for k, v in st.items() if not k.endswith("_cpu")), key=lambda kv: -kv[1])
        add("")
        if pps < TARGET_PPS or w2["pindai"]["wall"] / w2["decode"]["wall"] > TARGET_FLOOR:
            need = 2000 / TARGET_PPS
            cpu_ms = 1000 * w2["pindai"]["cpu_s"] / w2["pindai"]["pages"] if "cpu_s" in w2["pindai"] else None
            cap = 2000 / cpu_ms if cpu_ms else None
            idle = (f" On idle cores the CPU time it spends per page ({cpu_ms:.0f} ms, all processes) caps "
                    f"2 workers at {cap:.1f} pages/s" + (f", {TARGET_PPS / cap:.1f}x short." if cap < TARGET_PPS
                                                         else ".") if cap else "")
            where = (f"{TARGET_PPS / pps:.1f}x short of" if pps < TARGET_PPS
                     else f"{pps / TARGET_PPS:.2f}x the target of")
            wall_x = w2["pindai"]["wall"] / w2["decode"]["wall"]
            add(f"**Honest reading**: 200-dpi scans run at {pps:.1f} pages/s on 2 workers, "
                f"{where} {TARGET_PPS:g} pages/s (which needs <= {need:.0f} ms of work per "
                f"page per core), and {wall_x:.1f}x the decode floor's wall time.{idle} The work per page on one "
                "core is "
                + ", ".join(f"{k} {1000 * v / n1:.0f} ms" for k, v in biggest)
                + f"; decoding alone allows {tp['scan200-w2']['decode']['pages_per_s']:.0f} pages/s. "
                "Header OCR is one Tesseract call per chunk of files (`chunk_files`, 24) with the Indonesian "
                "model, on the TPS numbers only (the kecamatan and desa names, the costly part, are read only "
                "with `--register`); a second, digits-only call confirms the numbers it read. One-page image "
                "files pay the start per 24 pages, 3-page PDFs per 72 (compare its row for the PDFs). See the "
                "profile below for the functions.\n")
    if r.get("profile"):
        pr = r["profile"]
        add(f"### Profile: one chunk of {pr['files']} files ({pr['pages']} pages) of 200-dpi scans, one process\n")
        add(f"`process_chunk` (= `process_file` on each file, then the chunk's header OCR in one Tesseract call) "
            f"under cProfile: {pr['wall']:.2f} s, {1000 * pr['wall'] / max(pr['pages'], 1):.0f} ms per page. "
            "Time inside Tesseract and pdftoppm shows as waiting in `subprocess` (`communicate`/`poll`). Top "
            "functions by own time, then by cumulative time (`.venv/bin/python scripts/bench.py --only profile`):\n")
        add("```\n" + pr["tottime"] + "\n```\n")
        add("```\n" + pr["cumulative"] + "\n```\n")
        sc = pr.get("stage_cpu")
        if sc:
            add(f"Steady-state CPU per page (`stage_cpu_per_page`: one process, one thread, warm, {sc['passes']} "
                f"passes over the {sc['pages']} pages of scan200; each pass's mean):\n")
            add("| stage | " + " | ".join(f"pass {i + 1}" for i in range(sc["passes"])) + " |")
            add("|---|" + "---|" * sc["passes"])
            for k in ("decode", "register", "read"):
                add(f"| {k} ms | " + " | ".join(f"{v:.1f}" for v in sc[k]) + " |")
            add("| **register + read** ms | " + " | ".join(
                f"**{a + b:.1f}**" for a, b in zip(sc["register"], sc["read"], strict=True)) + " |\n")

    # ---------------------------------------------------------------- memory
    if mem:
        add("## 2. Peak memory\n")
        add("Plain pipeline, 2 workers, on the first forms of the scan batch and on the whole batch (the middle "
            "row, when present, is section 4's plain run). Peak = the largest total over the run's process tree "
            "(parent + pool workers + pdftoppm/tesseract) of proportional set size (PSS: a page the forked "
            f"workers share with the parent counts once), sampled every {1000 * SAMPLE_S:.0f} ms; the largest "
            "single process's `ru_maxrss` (RSS, shared pages included) beside it.\n")
        add("| pages | files | peak, whole tree | largest worker (ru_maxrss) | parent (ru_maxrss) | pages/s |")
        add("|---|---|---|---|---|---|")
        rows = [mem["small"], *([r["prefect"]["plain"]] if "plain" in (r.get("prefect") or {}) else []), mem["large"]]
        for v in rows:
            add(f"| {v['pages']} | {v['files']} | **{v['peak_tree_mb']:.0f} MB** | "
                f"{v['children_maxrss_mb']:.0f} MB | {v['self_maxrss_mb']:.0f} MB | {v['pages_per_s']:.1f} |")
        a, b = mem["small"], mem["large"]
        growth = (b["peak_tree_mb"] - a["peak_tree_mb"]) / max(b["pages"] - a["pages"], 1) * 1000
        add(f"\nFrom {a['pages']} to {b['pages']} pages the peak grows by {growth:.0f} KB per extra page. Every "
            "run here has more than one chunk of files, so each uses the process pool (a one-chunk batch is "
            "read in the parent alone and needs less). Command: `.venv/bin/python scripts/bench.py --only memory`.\n")

    # ---------------------------------------------------------------- baseline
    if bl:
        t, p = bl["tesseract"], bl["pindai"]
        sp = _baseline_speedups(bl)
        add("## 3. Baseline: Tesseract on every digit box\n")
        add(f"`scripts/baseline_tesseract.py`: the same registered pages (pindai's own decode and registration), "
            f"each box cut out at 64 px, border trimmed, one `tesseract --psm 10` process per box with a digit "
            f"whitelist (2 at a time, like pindai's 2 workers). A subset: {t['pages']} pages ({t['boxes']} boxes) "
            f"of 200-dpi scans; per-page figures extrapolate linearly (every box costs one process).\n")
        add("| reader | digit boxes right (12 classes) | right, X/blank merged | reading s/page | end to end pages/s |")
        add("|---|---|---|---|---|")
        add(f"| Tesseract per box | {_pct(t['accuracy'])} | {_pct(t['symbol_accuracy'])} | "
            f"{sp['tess_read_s']:.2f} | {sp['tess_pps']:.2f} |")
        add(f"| pindai | {_pct(_rate(bl['pindai_digits']))} | {_pct(_rate(bl['pindai_symbols']))} | "
            f"{sp['pindai_read_s']:.4f} | {sp['pindai_pps']:.2f} |")
        add(f"\npindai reads boxes **{sp['read']:.0f}x** faster (reading only: one CNN pass per page against "
            f"{t['boxes'] / max(t['pages'], 1):.0f} Tesseract processes), and is **{sp['e2e']:.0f}x** faster end to "
            "end (pindai's pages/s on 200-dpi scans with 2 workers from section 1 when it ran, header OCR, "
            "validation and publishing included; the baseline's decode and registration counted at 2 workers, "
            "no header OCR, validation or publishing). pindai's reading: the `read` stage (crops, CNN, bubbles) "
            "per page on one worker, halved for 2 workers. Tesseract cannot write \"X\" (not whitelisted; its blank "
            "output is scored as a blank box), hence the merged column. Command: "
            "`.venv/bin/python scripts/bench.py --only baseline`, or "
            f"`.venv/bin/python scripts/baseline_tesseract.py {_rel(BENCH / 'subsets')}/baseline-{s['baseline_forms']} "
            "--pages N`.\n")

    # ---------------------------------------------------------------- prefect
    if pf:
        add("## 4. Prefect overhead\n")
        e = pf.get("ephemeral", {})
        add(f"Start-up, paid once per run: `import flows, prefect` {e.get('import', 0):.1f} s; a no-op flow on the "
            f"**ephemeral** server (what `pindai run` without PREFECT_API_URL pays): first {e.get('first', 0):.1f} s, "
            f"second {e.get('second', 0):.2f} s, so the ephemeral server costs about "
            f"**{e.get('first', 0) - e.get('second', 0):.1f} s** per run. `prefect server start` took "
            f"{pf.get('server_start', 0):.1f} s to answer /api/health; a no-op flow against it: "
            f"{pf.get('server_noop', {}).get('first', 0):.2f} s.\n")
        if "flow" in pf:
            pl, fl = pf["plain"], pf["flow"]
            ov = fl["wall"] / pl["wall"] - 1
            add("Same pages, 2 workers, cache off (`digitize_batch(..., use_cache=False)`), against the already "
                "running server:\n")
            add("| | pages | seconds | pages/s |")
            add("|---|---|---|---|")
            add(f"| plain `run_pipeline` | {pl['pages']} | {pl['wall']:.1f} | {pl['pages_per_s']:.1f} |")
            add(f"| Prefect `digitize_batch` | {pl['pages']} | {fl['wall']:.1f} | {fl['pages_per_s']:.1f} |")
            add(f"\nOverhead: **{100 * ov:+.0f}%** (target within {100 * TARGET_PREFECT:.0f}%). Command: "
                "`.venv/bin/python scripts/bench.py --only prefect`.\n")

    # ---------------------------------------------------------------- accuracy
    if acc:
        rep = acc["report"]
        run = acc["run"]
        add("## 5. Accuracy on mixed quality\n")
        add(f"{rep.overall.forms} generated forms, quality mixed (scan/photo/fax as an archive holds them), "
            f"`{gen_command('DIR', s['acc_forms'], SEEDS['mixed'], 'mixed')}`, read by the plain pipeline "
            f"({run['pages_per_s']:.1f} pages/s) and scored with `load.evaluate` (`pindai eval`). Digits: every "
            "box, the reader's top class against the box on paper; fields: the reader's value (read) and the "
            "published value after the arithmetic's corrections (pub); forms: verified and right (ok), verified "
            "and WRONG (a silent error), needs_review, rejected, missing.\n")
        from load.evaluate import format_report

        text = format_report(rep)
        text = "\n".join(line for line in text.splitlines() if not line.startswith(("release:", "truth:")))
        add("```\n" + text.strip() + "\n```\n")
        add(f"Confusion matrix as a picture: `{_rel(acc['paths']['png'])}` (git-ignored; "
            f"JSON beside it). Command: `.venv/bin/python scripts/bench.py --only accuracy`, or by hand "
            "`pindai run DIR --out R --no-prefect` then `pindai eval R DIR/truth.jsonl`.\n")
    sh = r.get("shifts")
    if sh:
        from load.evaluate import EvalReport

        add("### Test-time shifts: what they buy and cost\n")
        add("The packaged reader re-reads the boxes its pair of networks still doubts, moved a pixel each way "
            "(`extract.digits.Jitter`). The same batch read twice in this section, by the packaged model and by "
            "the same model with the shifts taken out (2 workers each):\n")
        add("| reader | consistent scans verified | photos | faxes | digits right | silent errors | read ms/page "
            "(CPU, summed over workers) | wall s |")
        add("|---|---|---|---|---|---|---|---|")
        for name, v in sh.items():
            rep = EvalReport.model_validate(v["report"])
            run = v["run"]
            cells = []
            for q in ("scan", "photo", "fax"):
                g = rep.consistent_by_quality.get(q)
                cells.append(f"{g.outcomes['verified_right']}/{g.forms}" if g else "-")
            read = 1000 * run["stage_sums"].get("read", 0.0) / max(run["read_pages"], 1)
            add(f"| {name} | {' | '.join(cells)} | {rep.overall.digits.correct:,}/{rep.overall.digits.total:,} | "
                f"{rep.silent_error_count} | {read:.1f} | {run['wall']:.1f} |")
        add("\nCommand: `.venv/bin/python scripts/bench.py --only accuracy,shifts`; which moves were tried on "
            "the model card's test pages: `.venv/bin/python scripts/jitter_variants.py` (docs/TEST_TIME_SHIFTS.md).\n")
    un = r.get("unseen")
    if un:
        from load.evaluate import format_report

        cs = un["model_meta"].get("metrics", {}).get("cross_source", {})
        add("## 6. Handwriting the model never saw\n")
        add(f"{un['forms']} mixed-quality forms written only by {un['source'].upper()} writers (test split, 10% with "
            f"officer mistakes), read by the cross-source model `{un['model_meta']['version']}` that was trained "
            f"without any {un['source'].upper()} digit (`training/cross-source/no-mnist`, variant `no-mnist` of "
            "`scripts/train_digits.py`; its threshold is the packaged model's, chosen cross-source), and by the "
            "packaged model on the same pages. The number that matters is verified-and-WRONG: 0 means an unseen "
            "hand costs coverage (more forms to review), never a wrong published number."
            + (f" On page crops this model reads {cs.get('digit_acc', 0):.2%} of {un['source'].upper()} digits right."
               if cs else "") + "\n")
        from load.evaluate import EvalReport

        for name in ("unseen-no-mnist", "unseen-packaged"):
            if name in un:
                text = format_report(EvalReport.model_validate(un[name]["report"]))
                text = "\n".join(x for x in text.splitlines()
                                 if not x.startswith(("release:", "truth:", "confusion", " ")) and x.strip())
                add(f"**{name}** ({un[name]['model']}):\n\n```\n{text.strip()}\n```\n")
        add("Command: `.venv/bin/python scripts/bench.py --only unseen`.\n")
    ln = r.get("learning")
    if ln:
        add("### Learning from the stewards on that batch\n")
        add(f"A steward settles every field of the {ln['forms_reviewed']} forms the no-MNIST model flagged "
            f"({ln['fields_decided']} fields; the bench uses the truth as the steward's answers). `pindai review "
            f"apply` stores the crops ({ln.get('review apply seconds', 0):.0f} s) and `pindai model update` "
            f"fine-tunes the no-MNIST model on them plus base data ({ln.get('model update seconds', 0):.0f} s), "
            "then compares both models on the reviewed forms held out by form (never trained on).\n")
        if ln.get("error"):
            add(f"**{ln['error']}** (log in `.bench/logs/`).\n")
        rep = ln.get("report") or {}
        if rep:
            add("```\n" + json.dumps({k: rep[k] for k in rep if k in ("current", "candidate", "promoted",
                                                                      "verdicts", "scores", "data")}, indent=1)[:3000]
                + "\n```\n")
        add("Command: `.venv/bin/python scripts/bench.py --only unseen,learning`.\n")
    add("## How the bench spends its time\n")
    add("| step | seconds |")
    add("|---|---|")
    for k, v in gen.items():
        where = " (within the unseen section)" if k == "unseen" else ""
        add(f"| generate {k} batch{' (cached)' if v == 0 else ''}{where} | {v:.0f} |")
    # the unseen batch is generated inside its own section (its seconds are counted there)
    add(f"| batches, subsets, set-up | {r['setup_seconds'] - sum(v for k, v in gen.items() if k != 'unseen'):.0f} |")
    for k, v in r.get("section_seconds", {}).items():
        add(f"| {k} | {v:.0f} |")
    add(f"| **total** | **{r['total_seconds']:.0f}** |")
    return "\n".join(L) + "\n"


def _rate(acc: dict) -> float | None:
    return acc["correct"] / acc["total"] if acc["total"] else None


def _baseline_speedups(bl: dict) -> dict:
    t, p = bl["tesseract"], bl["pindai"]
    pindai_pps = bl.get("pindai_pps") or p["pages_per_s"]
    pages = max(t["pages"], 1)
    tess_read = t["tesseract_seconds"] / pages  # wall per page, 2 processes at a time
    tess_e2e = (t["tesseract_seconds"] + t["prepare_seconds"] / 2) / pages
    # pindai's reading stage: per page on one worker; 2 workers read two pages at a time.
    pindai_read = p["stage_sums"].get("read", 0.0) / max(p["read_pages"], 1) / 2
    return {"tess_read_s": tess_read, "tess_pps": 1 / tess_e2e, "pindai_read_s": pindai_read,
            "read": tess_read / max(pindai_read, 1e-9), "e2e": pindai_pps * tess_e2e, "pindai_pps": pindai_pps}


if __name__ == "__main__" and "--child" in sys.argv:
    _spec = json.loads(sys.argv[sys.argv.index("--child") + 1])
    _res = CHILDREN[_spec["kind"]](_spec)
    Path(_spec["result"]).write_text(json.dumps(_res, default=str))
    sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="pindai benchmarks -> BENCHMARKS.md")
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke test of the bench itself)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    ap.add_argument("--out", type=Path, default=None,
                    help="default: BENCHMARKS.md (full run) or .bench/BENCHMARKS-quick.md")
    ap.add_argument("--render-only", action="store_true", help="rewrite the report from the last results")
    a = ap.parse_args(argv)
    only = {x.strip() for x in a.only.split(",") if x.strip()}
    if only - set(SECTIONS):
        ap.error(f"unknown sections {sorted(only - set(SECTIONS))}")
    BENCH.mkdir(exist_ok=True)
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    argv_shown = " ".join(["scripts/bench.py", *(argv if argv is not None else sys.argv[1:])])
    results = BENCH / ("last-run-quick.json" if a.quick else "last-run.json")
    out = a.out or (BENCH / "BENCHMARKS-quick.md" if a.quick else REPO / "BENCHMARKS.md")
    if a.render_only:
        out.write_text(render(json.loads(results.read_text())) + kept_tail(out), "utf-8")
        log(f"wrote {out} from {results}")
        return 0
    sizes = QUICK if a.quick else FULL
    r = Bench(sizes, only).run()
    r["machine"] = machine()
    r["command"] = f".venv/bin/python {argv_shown}".strip()
    if only != set(SECTIONS) and results.exists():
        # Some sections measured again: they replace theirs in the last results, the rest is kept
        # (each section's figures and ratios still come from one run; the report dates each section).
        prev = json.loads(results.read_text())
        if prev.get("sizes") == r["sizes"]:
            for key in ("section_seconds", "section_runs", "generation_seconds"):
                r[key] = {**prev.get(key, {}), **r.get(key, {})}
            for key, value in prev.items():
                r.setdefault(key, value)
            # The commands in the order they were last run, each once.
            done = [c for c in prev.get("command", "").split(", then ") if c and c != r["command"]]
            r["command"] = ", then ".join([*done, r["command"]])
            r["total_seconds"] = sum(r["section_seconds"].values()) + r["setup_seconds"]
    if only == set(SECTIONS):  # the 20-minute budget is about this: every section, batches included
        cached = not any(r.get("generation_seconds", {}).values())
        r["full_run"] = {"seconds": r["total_seconds"], "started": r["started"],
                         "batches": "cached batches" if cached else "an empty .bench/, every batch generated"}
    tmp = results.with_suffix(".tmp")
    tmp.write_text(json.dumps(r, indent=1, default=_json_default))
    tmp.replace(results)
    r = json.loads(results.read_text())
    out.write_text(render(r) + kept_tail(out), "utf-8")
    log(f"wrote {out} ({r['total_seconds'] / 60:.1f} min)")
    return 0


# Figures measured by their own commands (the review app's benchmark, the report, registration on
# photo-hard pages, the renderings) sit below this line in BENCHMARKS.md; the bench keeps them as
# they are, so one file holds every figure with its command.
KEPT_MARKER = "<!-- Below: measured by other commands; make bench keeps this part as it is. -->"


def kept_tail(out: Path) -> str:
    """The part of ``out`` from KEPT_MARKER on (empty when there is none)."""
    if not out.exists():
        return ""
    text = out.read_text("utf-8")
    at = text.find(KEPT_MARKER)
    return "" if at < 0 else "\n" + text[at:]


def _json_default(o: object) -> object:
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json")
    return str(o)


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of the review server: time per decision with a large queue, and the server's memory.

Synthetic queue rows (PPWP fields of flagged forms, no scans) are inserted straight into a fresh
database; then the real server (``pindai review serve`` in its own process) is driven over HTTP by
stewards who take fields and decide them. The server's own time per request comes from its
``Server-Timing`` header; memory is the server process's resident set (VmRSS, peak VmHWM). The
same run first measures a small queue as the baseline, so the large queue's cost is a ratio.

    python -m review.bench --fields 100000 --baseline 1000 --decisions 1000 [--postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import insert, text

from review import db
from review.auth import add_user
from review.queue import now

# The doubtful fields of a typical flagged PPWP form and the values on paper (they satisfy every rule).
FIELDS = {"dpt_l": 120, "votes_1": 80, "votes_2": 70, "votes_3": 39, "valid_votes": 189, "invalid_votes": 5,
          "total_votes": 194, "ballots_used": 194, "ballots_unused": 60}
PASSWORD = "benchmark password"


def fill_queue(engine, fields: int, release_id: str = "bench") -> None:  # noqa: ANN001
    """``fields`` queue rows in forms of len(FIELDS) fields, inserted in bulk."""
    t = now()
    per = len(FIELDS)
    n_forms = -(-fields // per)
    values = dict(FIELDS) | {"dpt_p": 130, "dpt_total": 250}
    with engine.begin() as conn:
        conn.execute(insert(db.releases).values(id=release_id, input_dir=None, loaded_at=t))
        for start in range(0, n_forms, 2000):
            ks = range(start, min(n_forms, start + 2000))
            forms = [{"id": k + 1, "release_id": release_id, "region_code": f"32{k:011d}", "form_type": "ppwp",
                      "status": "needs_review", "form_values": values} for k in ks]
            conn.execute(insert(db.forms), forms)
            items, tasks = [], []
            for f in forms:
                for pos, (fid, v) in enumerate(FIELDS.items()):
                    iid = (f["id"] - 1) * per + pos + 1
                    if iid > fields:
                        break
                    items.append({"id": iid, "form_id": f["id"], "release_id": release_id,
                                  "region_code": f["region_code"], "form_type": "ppwp", "field_id": fid,
                                  "position": pos, "reading": v, "confidence": 0.5, "max_value": 999,
                                  "detail": {"why": ["unsure digits"], "alternatives": [[v + 1, 0.4]], "rules": []}})
                    tasks.append({"id": iid, "item_id": iid, "form_id": f["id"], "round": 1, "state": "open",
                                  "reason": "queue", "created_at": t})
            conn.execute(insert(db.items), items)
            conn.execute(insert(db.tasks), tasks)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, val = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(val.split()[0]) / 1024  # MiB
    return out


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def run_once(fields: int, decisions: int, stewards: int, db_url: str | None = None) -> dict:
    """Fill a fresh database with ``fields`` rows, start the server, make ``decisions`` decisions."""
    tmp = Path(tempfile.mkdtemp(prefix="pindai-review-bench-"))
    releases = tmp / "releases"
    releases.mkdir()
    url = db_url or db.default_url(releases)
    engine = db.connect(url)
    names = [f"bench{k}" for k in range(stewards)]
    for n in names:
        add_user(engine, n, "steward", PASSWORD, replace=True)
    t0 = time.perf_counter()
    fill_queue(engine, fields)
    fill_s = time.perf_counter() - t0
    engine.dispose()
    port = _free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "review", "serve", str(releases), "--db", url,
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.time() + 120
        while time.time() < end:
            try:
                if httpx.get(base + "/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the server did not start: " + proc.stderr.read1(4000).decode(errors="replace"))
        idle = _memory(proc.pid)
        decide_ms, next_ms, wall_ms = [], [], []
        lock = threading.Lock()
        left = [decisions]

        def steward(name: str) -> None:
            c = httpx.Client(base_url=base, timeout=60)
            csrf = c.get("/login").text.split('name="csrf" value="')[1].split('"')[0]
            c.post("/login", data={"name": name, "password": PASSWORD, "csrf": csrf})
            token = c.get("/").text.split('<meta name="csrf" content="')[1].split('"')[0]
            while True:
                r = c.get("/api/next?limit=4")
                with lock:
                    next_ms.append(float(r.headers["server-timing"].split("dur=")[1]))
                tasks = r.json()["tasks"]
                if not tasks:
                    return
                for t in tasks:
                    with lock:
                        if left[0] <= 0:
                            return
                        left[0] -= 1
                    w0 = time.perf_counter()
                    r = c.post("/api/decide", json={"task_id": t["task_id"], "action": "value",
                                                    "value": str(FIELDS[t["field_id"]])},
                               headers={"X-CSRF-Token": token})
                    w = (time.perf_counter() - w0) * 1000
                    if r.status_code != 200:
                        raise RuntimeError(r.text)
                    with lock:
                        decide_ms.append(float(r.headers["server-timing"].split("dur=")[1]))
                        wall_ms.append(w)

        threads = [threading.Thread(target=steward, args=(n,)) for n in names]
        t1 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t1
        mem = _memory(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    engine = db.make_engine(url)
    with engine.connect() as conn:
        if url.startswith("sqlite"):
            size = sum(p.stat().st_size for p in (releases / db.STATE_DIR).glob(db.DB_FILE + "*"))
        else:
            size = conn.execute(text("select pg_database_size(current_database())")).scalar_one()
    engine.dispose()
    return {
        "fields": fields, "decisions": len(decide_ms), "stewards": stewards, "db": url.split(":")[0],
        "fill_seconds": round(fill_s, 1),
        "decide_ms_p50": round(statistics.median(decide_ms), 2), "decide_ms_p95": round(_pct(decide_ms, 0.95), 2),
        "next_ms_p50": round(statistics.median(next_ms), 2), "next_ms_p95": round(_pct(next_ms, 0.95), 2),
        "round_trip_ms_p50": round(statistics.median(wall_ms), 2),
        "decisions_per_second": round(len(decide_ms) / elapsed, 1),
        "server_rss_mib_idle": round(idle.get("VmRSS", 0), 1), "server_rss_mib_after": round(mem.get("VmRSS", 0), 1),
        "server_peak_mib": round(mem.get("VmHWM", 0), 1), "database_mib": round(size / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fields", type=int, default=100_000, help="queued fields (the large queue)")
    ap.add_argument("--baseline", type=int, default=1_000, help="queued fields of the baseline run")
    ap.add_argument("--decisions", type=int, default=1_000)
    ap.add_argument("--stewards", type=int, default=4)
    ap.add_argument("--postgres", action="store_true",
                    help="run both measurements on throw-away PostgreSQL clusters (review.pgtemp) instead of SQLite")
    args = ap.parse_args(argv)
    rows = []
    for n in (args.baseline, args.fields):
        if args.postgres:
            from review import pgtemp

            with pgtemp.cluster() as url:
                rows.append(run_once(n, args.decisions, args.stewards, url))
        else:
            rows.append(run_once(n, args.decisions, args.stewards))
        print(json.dumps(rows[-1]), flush=True)
    small, big = rows
    print(f"decide p50 {big['decide_ms_p50']} ms, p95 {big['decide_ms_p95']} ms with {big['fields']:,} queued "
          f"fields ({big['decide_ms_p50'] / small['decide_ms_p50']:.2f}x the {small['fields']:,}-field baseline); "
          f"server RSS {big['server_rss_mib_after']} MiB (baseline {small['server_rss_mib_after']} MiB); "
          f"database {big['database_mib']} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

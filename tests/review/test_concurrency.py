"""10 stewards, 500 decisions through the HTTP API at once, then a publication: the database and
the release hold exactly 500 decisions, none twice. On SQLite (WAL) and on a real PostgreSQL."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from review_factory import TRUTH, Server, many_release, start_server
from sqlalchemy import func, select

from load.tables import pseudonym
from review import db
from review.db import default_url

STEWARDS = [f"steward{k:02d}" for k in range(10)]
TARGET = 500


def _run_stewards(srv: Server) -> tuple[int, int]:
    """Every steward takes fields and decides them with the paper's value until 500 are stored;
    every 7th decision is sent twice (the second must be refused). Returns (stored, refused)."""
    lock = threading.Lock()
    state = {"reserved": 0, "stored": 0, "refused_twice": 0, "errors": []}

    def work(name: str) -> None:
        c, token = srv.login(name)
        h = {"X-CSRF-Token": token}
        n = 0
        while True:
            tasks = c.get("/api/next?limit=4").json()["tasks"]
            if not tasks:
                return
            for t in tasks:
                with lock:
                    if state["reserved"] >= TARGET:
                        return
                    state["reserved"] += 1
                body = {"task_id": t["task_id"], "action": "value", "value": str(TRUTH[t["field_id"]])}
                r = c.post("/api/decide", json=body, headers=h)
                if r.status_code != 200:
                    with lock:
                        state["reserved"] -= 1
                        state["errors"].append((r.status_code, r.text))
                    continue
                with lock:
                    state["stored"] += 1
                n += 1
                if n % 7 == 0:
                    again = c.post("/api/decide", json=body, headers=h)
                    with lock:
                        state["refused_twice"] += again.status_code == 409

    threads = [threading.Thread(target=work, args=(name,)) for name in STEWARDS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not state["errors"], state["errors"][:5]
    return state["stored"], state["refused_twice"]


def _check(srv: Server) -> None:
    stored, refused = _run_stewards(srv)
    assert stored == TARGET and refused > 0
    with srv.engine.connect() as conn:
        d = db.decisions
        assert conn.execute(select(func.count()).select_from(d)).scalar_one() == TARGET
        assert conn.execute(select(func.count(func.distinct(d.c.task_id)))).scalar_one() == TARGET
        assert conn.execute(select(func.count(func.distinct(d.c.item_id)))).scalar_one() == TARGET
        assert conn.execute(select(func.count(func.distinct(d.c.user_id)))).scalar_one() == len(STEWARDS)
        # no second opinion was needed: every value was the paper's
        assert conn.execute(select(func.count()).select_from(db.tasks).where(db.tasks.c.round > 1)).scalar_one() == 0
    boss, token = srv.login("boss")
    r = boss.post("/api/publish", json={}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["decisions"] == TARGET
    release = srv.releases / res["release"]
    corrections = []
    for line in (release / "records.jsonl").read_text().splitlines():
        rec = json.loads(line)
        corrections += [(rec["region_code"], c["field_id"], c["by"]) for c in rec["corrections"] if c["by"] != "auto"]
    assert len(corrections) == TARGET and len(set(corrections)) == TARGET
    assert {by for *_, by in corrections} <= {pseudonym(s) for s in STEWARDS}
    assert not any(s in (release / "records.jsonl").read_text() for s in STEWARDS)  # pseudonyms only
    with srv.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(db.decisions)
                            .where(db.decisions.c.publication_id.is_(None))).scalar_one() == 0
    # publishing again finds nothing new: no decision is applied twice
    assert boss.post("/api/publish", json={}, headers={"X-CSRF-Token": token}).status_code == 409


USERS = {**{s: "steward" for s in STEWARDS}, "boss": "supervisor"}


def test_500_decisions_sqlite(tmp_path: Path) -> None:
    releases = many_release(tmp_path, 60)  # 540 doubtful fields
    with start_server(releases, default_url(releases), USERS) as srv:
        _check(srv)


def test_500_decisions_postgresql(tmp_path: Path, fresh_postgres: str) -> None:
    releases = many_release(tmp_path, 60)
    with start_server(releases, fresh_postgres, USERS) as srv:
        _check(srv)


"""The review core without HTTP: migrations, lease expiry, the queue built from a release, and the
``pindai review serve`` command as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from review_factory import PASSWORD, TRUTH, free_port, many_release
from sqlalchemy import inspect, select, text

from review import db, service
from review.auth import add_user
from review.db import connect, default_url
from review.queue import sync_release

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return many_release(tmp_path_factory.mktemp("svc"), 3)


def test_migrations_create_every_table_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    engine = connect(url)
    connect(url)  # a second start applies nothing
    names = set(inspect(engine).get_table_names())
    assert {"users", "sessions", "forms", "items", "tasks", "decisions", "skips", "publications", "audit",
            "locks", "alembic_version"} <= names
    with engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar_one() == "0001"
        assert conn.execute(text("pragma journal_mode")).scalar_one() == "wal"


def test_queue_from_release_and_lease_expiry(releases: Path, tmp_path: Path) -> None:
    from load.catalogue import resolve as resolve_release

    engine = connect(f"sqlite:///{tmp_path / 'r.db'}")
    with engine.begin() as conn:
        assert sync_release(conn, resolve_release(releases)) == 27  # 3 forms x 9 doubtful fields
        assert sync_release(conn, resolve_release(releases)) == 0  # loaded once
    a = add_user(engine, "a", "steward", PASSWORD)
    b = add_user(engine, "b", "steward", PASSWORD)
    mine = service.next_tasks(engine, a, 20, lease_minutes=0.02)  # held for 1.2 s
    theirs = service.next_tasks(engine, b, 20, lease_minutes=0.02)
    assert {t["region_code"] for t in mine}.isdisjoint({t["region_code"] for t in theirs})
    item = mine[0]
    assert {"rules", "alternatives", "why", "reading", "max_value"} <= set(item)
    time.sleep(1.5)
    service.next_tasks(engine, b, 20, lease_minutes=0.02)  # b moves on to a's form once it expired
    with pytest.raises(service.Conflict, match="expired"):
        service.decide(engine, a, item["task_id"], "value", str(TRUTH[item["field_id"]]))
    with engine.connect() as conn:
        assert conn.execute(select(db.decisions)).first() is None


def test_parse_value() -> None:
    assert service.parse_value("042", 999) == (42, False)
    assert service.parse_value("-", 999) == (None, True)
    for bad in ("", "abc", "1000", "-1", "٣", "1.0", "+5", "9" * 12):
        with pytest.raises(service.BadValue):
            service.parse_value(bad, 999)


def test_serve_command_runs_the_app(releases: Path) -> None:
    url = default_url(releases)
    add_user(connect(url), "cli", "steward", PASSWORD, replace=True)
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "review", "serve", str(releases), "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        end, page = time.time() + 90, None
        while time.time() < end and page is None:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
            except httpx.HTTPError:
                time.sleep(0.2)
        assert page is not None and page.status_code == 200 and "Sign in" in page.text
        assert httpx.get(f"http://127.0.0.1:{port}/api/next").status_code == 401
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_failed_publication_gives_its_decisions_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from review import publish

    rel = many_release(tmp_path, 2)
    engine = connect(default_url(rel))
    from load.catalogue import resolve as resolve_release

    with engine.begin() as conn:
        sync_release(conn, resolve_release(rel))
    a = add_user(engine, "a", "steward", PASSWORD)
    boss = add_user(engine, "boss", "supervisor", PASSWORD)
    for t in service.next_tasks(engine, a, 3):
        service.decide(engine, a, t["task_id"], "value", str(TRUTH[t["field_id"]]))
    with pytest.raises(service.Forbidden):
        publish.publish_from_db(engine, rel, a)
    # another publication holds the lock: refused at once, nothing claimed
    with engine.begin() as conn:
        conn.execute(db.locks.update().values(holder=999))
    with pytest.raises(service.Conflict, match="another publication"):
        publish.publish_from_db(engine, rel, boss)
    with engine.begin() as conn:
        conn.execute(db.locks.update().values(holder=None))

    def broken(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
        raise OSError("disk full")

    real = publish.publish_decisions
    monkeypatch.setattr(publish, "publish_decisions", broken)
    with pytest.raises(OSError):
        publish.publish_from_db(engine, rel, boss)
    with engine.connect() as conn:
        assert conn.execute(select(db.decisions.c.publication_id)).scalars().all() == [None] * 3
        assert conn.execute(select(db.publications.c.state)).scalars().all() == ["failed", "failed"]
        assert conn.execute(select(db.locks.c.holder)).scalar_one() is None
    monkeypatch.setattr(publish, "publish_decisions", real)  # (undo() would drop the reviewed-store env too)
    res = publish.publish_from_db(engine, rel, boss)
    assert res["decisions"] == 3
    recs = [json.loads(x) for x in (rel / res["release"] / "records.jsonl").read_text().splitlines()]
    assert sum(c["by"] != "auto" for r in recs for c in r["corrections"]) == 3
    with engine.connect() as conn:  # the new release is in the queue, without the decided fields
        assert conn.execute(select(db.releases.c.id).where(db.releases.c.id == res["release"])).first()
        new_items = conn.execute(select(db.items.c.id).where(db.items.c.release_id == res["release"])).all()
    assert len(new_items) == 2 * 9 - 3


def test_second_opinions_and_publication_on_postgresql(tmp_path: Path, fresh_postgres: str) -> None:
    """The rounds, savepoints and the publication claim on a real PostgreSQL (no HTTP)."""
    import json

    from load.catalogue import resolve as resolve_release
    from review.publish import publish_from_db

    rel = many_release(tmp_path, 2)
    engine = connect(fresh_postgres)
    with engine.begin() as conn:
        sync_release(conn, resolve_release(rel))
    a, b = add_user(engine, "a", "steward", PASSWORD), add_user(engine, "b", "steward", PASSWORD)
    boss = add_user(engine, "boss", "supervisor", PASSWORD)
    opened = []
    for t in service.next_tasks(engine, a, 20):
        value = 81 if t["field_id"] == "votes_1" else TRUTH[t["field_id"]]  # R3 breaks once all are settled
        opened += service.decide(engine, a, t["task_id"], "value", str(value))["second_opinion"]
    assert opened
    assert all(t["round"] == 1 for t in service.next_tasks(engine, a, 20))  # never a's own second opinion
    service.release_leases(engine, a)
    seconds = []
    for _ in range(5):
        got = service.next_tasks(engine, b, 20)
        seconds = [t for t in got if t["round"] == 2]
        if seconds or not got:
            break
        for t in got:
            service.skip(engine, b, t["task_id"])
    assert seconds
    for t in seconds:  # b reads the paper: 80
        service.decide(engine, b, t["task_id"], "value", str(TRUTH[t["field_id"]]))
    res = publish_from_db(engine, rel, boss)
    recs = [json.loads(x) for x in (rel / res["release"] / "records.jsonl").read_text().splitlines()]
    final = {(r["region_code"], c["field_id"]): c["new"] for r in recs for c in r["corrections"] if c["by"] != "auto"}
    assert len(final) == res["decisions"] == 9  # one form's 9 fields, votes_1 from the second round
    assert set(final.values()) == {TRUTH[f] for _, f in final}
    engine.dispose()

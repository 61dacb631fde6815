"""The review app over real HTTP (uvicorn on a loopback port, SQLite in WAL mode): sessions, roles,
CSRF, path traversal, bad values, leases, second opinions, the CSV loop."""

from __future__ import annotations

import csv
import http.client
from pathlib import Path
from urllib.parse import urlparse

import pytest
from review_factory import PASSWORD, TRUTH, Server, many_release, start_server
from sqlalchemy import func, select

from review import db
from review.db import default_url

USERS = {"siti": "steward", "budi": "steward", "ayu": "steward", "rina": "supervisor"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    releases = many_release(tmp_path_factory.mktemp("api"), 6)
    with start_server(releases, default_url(releases), USERS) as server:
        yield server


def _count(srv: Server, table) -> int:  # noqa: ANN001
    with srv.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_every_page_and_call_needs_a_session(srv: Server) -> None:
    c = srv.client()
    for path in ("/", "/work", "/audit"):
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    for path in ("/api/next", "/api/stats", "/crop/1.png", "/crop/1-bubbles.png", "/api/next?limit=abc",
                 "/api/nothing-here"):
        assert c.get(path).status_code == 401, path
    for path in ("/api/decide", "/api/skip", "/api/second", "/api/publish", "/publish", "/second", "/logout"):
        assert c.post(path, json={"task_id": 1, "action": "confirm"}).status_code == 401, path
    # a forged cookie is no session either
    c.cookies.set("pindai_session", "x" * 43)
    assert c.get("/api/next").status_code == 401
    assert "pindai review" in c.get("/login").text  # the sign-in page itself is open


def test_wrong_password_gives_no_hint(srv: Server) -> None:
    answers = []
    for name, pw in (("siti", "wrong password"), ("nobody", PASSWORD), ("nobody", "wrong password")):
        c = srv.client()
        csrf = c.get("/login").text.split('name="csrf" value="')[1].split('"')[0]
        r = c.post("/login", data={"name": name, "password": pw, "csrf": csrf})
        assert r.status_code == 401 and "pindai_session" not in r.cookies
        answers.append(r.text.replace(csrf, ""))
    assert answers[0] == answers[1] == answers[2]
    assert "Wrong name or password." in answers[0]
    # and a login without the sign-in form's token is refused
    c = srv.client()
    c.get("/login")
    assert c.post("/login", data={"name": "siti", "password": PASSWORD}).status_code == 403


def test_session_cookie_is_httponly_and_strict(srv: Server) -> None:
    c = srv.client()
    csrf = c.get("/login").text.split('name="csrf" value="')[1].split('"')[0]
    r = c.post("/login", data={"name": "siti", "password": PASSWORD, "csrf": csrf})
    cookie = next(v for v in r.headers.get_list("set-cookie") if v.startswith("pindai_session="))
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    token = cookie.split("=", 1)[1].split(";")[0]
    with srv.engine.connect() as conn:  # the database keeps only a hash of it
        assert conn.execute(select(func.count()).select_from(db.sessions)
                            .where(db.sessions.c.token_hash == token)).scalar_one() == 0


def test_csrf_token_required_on_posts(srv: Server) -> None:
    c, token = srv.login("ayu")
    task = c.get("/api/next").json()["tasks"][0]
    body = {"task_id": task["task_id"], "action": "confirm"}
    assert c.post("/api/decide", json=body).status_code == 403
    assert c.post("/api/decide", json=body, headers={"X-CSRF-Token": "nope"}).status_code == 403
    other, other_token = srv.login("budi")
    assert c.post("/api/decide", json=body, headers={"X-CSRF-Token": other_token}).status_code == 403
    assert c.post("/api/skip", json=body, headers={"X-CSRF-Token": token}).status_code == 200
    c.post("/logout", data={"csrf": token})
    other.post("/logout", data={"csrf": other_token})


def test_steward_cannot_publish_or_mark(srv: Server) -> None:
    c, token = srv.login("siti")
    h = {"X-CSRF-Token": token}
    assert c.post("/api/publish", json={}, headers=h).status_code == 403
    assert c.post("/publish", data={"csrf": token}).status_code == 403
    assert c.post("/api/second", json={"item_id": 1}, headers=h).status_code == 403
    assert 'id="publish"' not in c.get("/").text
    assert c.get("/audit").status_code == 403


def _raw_get(srv: Server, path: str, cookie: str) -> tuple[int, bytes]:
    """A GET with the path exactly as given (no client-side normalisation of '..')."""
    u = urlparse(srv.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.putrequest("GET", path, skip_accept_encoding=True)
    conn.putheader("Cookie", f"pindai_session={cookie}")
    conn.endheaders()
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


@pytest.mark.parametrize("path", [
    "/crop/../../etc/passwd", "/crop/..%2F..%2Fetc%2Fpasswd", "/crop/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/crop/%252e%252e%252fetc%252fpasswd", "/crop/..%5c..%5cetc%5cpasswd", "/crop/1.png%00../../etc/passwd",
    "/crop/....//....//etc/passwd", "/crop/%2Fetc%2Fpasswd", "/crop/1/../../../etc/passwd",
    "/static/../../../../etc/passwd", "/static/..%2f..%2f..%2f..%2fetc%2fpasswd", "/crop/-1.png",
    "/crop/99999999999999999999.png",
])
def test_crop_path_traversal_refused(srv: Server, path: str) -> None:
    c, _ = srv.login("siti")
    status, body = _raw_get(srv, path, c.cookies["pindai_session"])
    assert status in (400, 404, 422), (path, status)
    assert b"root:" not in body


@pytest.mark.parametrize("value", ["abc", "12a", "1000", "-5", "", " ", "1e3", "٣", "9" * 30, "0x10", "3.5"])
def test_bad_values_refused_and_nothing_stored(srv: Server, value: str) -> None:
    c, token = srv.login("budi")
    task = c.get("/api/next").json()["tasks"][0]
    before = _count(srv, db.decisions), _count(srv, db.audit)
    r = c.post("/api/decide", json={"task_id": task["task_id"], "action": "value", "value": value},
               headers={"X-CSRF-Token": token})
    assert r.status_code == 422 and r.json()["error"], value
    assert (_count(srv, db.decisions), _count(srv, db.audit)) == before
    assert any(t["task_id"] == task["task_id"] for t in c.get("/api/next").json()["tasks"])  # still open
    c.post("/logout", data={"csrf": token})


def test_leases_and_no_double_decision(srv: Server) -> None:
    a, ta = srv.login("siti")
    b, tb = srv.login("ayu")
    mine = a.get("/api/next?limit=20").json()["tasks"]
    theirs = b.get("/api/next?limit=20").json()["tasks"]
    assert mine and theirs
    form_a = {(t["region_code"], t["form_type"]) for t in mine}
    form_b = {(t["region_code"], t["form_type"]) for t in theirs}
    assert len(form_a) == 1 and form_a.isdisjoint(form_b)  # the second steward gets another form
    t = mine[0]
    body = {"task_id": t["task_id"], "action": "value", "value": str(TRUTH[t["field_id"]])}
    r = b.post("/api/decide", json=body, headers={"X-CSRF-Token": tb})
    assert r.status_code == 409  # not b's form
    assert a.post("/api/decide", json=body, headers={"X-CSRF-Token": ta}).status_code == 200
    again = a.post("/api/decide", json=body, headers={"X-CSRF-Token": ta})
    assert again.status_code == 409 and "decided already" in again.json()["error"]
    with srv.engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(db.decisions)
                         .where(db.decisions.c.task_id == t["task_id"])).scalar_one()
    assert n == 1
    for c, tok in ((a, ta), (b, tb)):
        c.post("/logout", data={"csrf": tok})  # signing out returns the forms to the queue


def test_a_value_that_breaks_a_rule_gets_a_second_opinion(srv: Server) -> None:
    a, ta = srv.login("siti")
    tasks = a.get("/api/next?limit=20").json()["tasks"]
    assert any(t["field_id"] == "votes_1" for t in tasks)
    opened = []
    for t in tasks:
        value = 81 if t["field_id"] == "votes_1" else TRUTH[t["field_id"]]  # 81 + 70 + 39 != 189: R3 breaks
        r = a.post("/api/decide", json={"task_id": t["task_id"], "action": "value", "value": str(value)},
                   headers={"X-CSRF-Token": ta})
        assert r.status_code == 200, r.text
        opened += r.json()["second_opinion"]
    assert opened, "no second opinion opened"
    # the first steward is never asked again; another steward gets the round-2 field
    assert all(t["round"] == 1 for t in a.get("/api/next?limit=20").json()["tasks"])
    b, tb = srv.login("budi")
    seconds = []
    for _ in range(10):
        got = b.get("/api/next?limit=20").json()["tasks"]
        seconds = [t for t in got if t["round"] == 2]
        if seconds or not got:
            break
        for t in got:
            b.post("/api/skip", json={"task_id": t["task_id"]}, headers={"X-CSRF-Token": tb})
    assert seconds and {t["reason"] for t in seconds} == {"rule"}
    a.post("/logout", data={"csrf": ta})
    b.post("/logout", data={"csrf": tb})


def test_unreadable_and_supervisor_second_opinions(srv: Server) -> None:
    a, ta = srv.login("ayu")
    h = {"X-CSRF-Token": ta}
    for _ in range(10):  # skip forms left with second opinions only
        got = a.get("/api/next?limit=20").json()["tasks"]
        first = [t for t in got if t["round"] == 1]
        if len(first) >= 2:
            break
        for t in got:
            a.post("/api/skip", json={"task_id": t["task_id"]}, headers=h)
    t1, t2 = first[:2]
    r = a.post("/api/decide", json={"task_id": t1["task_id"], "action": "unreadable"}, headers=h)
    assert r.status_code == 200 and r.json()["second_opinion"] == [t1["item_id"]]
    assert a.post("/api/decide", json={"task_id": t2["task_id"], "action": "confirm"}, headers=h).status_code == 200
    s, ts = srv.login("rina")
    hs = {"X-CSRF-Token": ts}
    r = s.post("/api/second", json={"item_id": t2["item_id"]}, headers=hs)
    assert r.status_code == 200 and r.json()["round"] == 2
    assert s.post("/api/second", json={"item_id": t2["item_id"]}, headers=hs).status_code == 409
    a.post("/logout", data={"csrf": ta})
    s.post("/logout", data={"csrf": ts})


def test_queue_page_and_crop_without_source(srv: Server) -> None:
    c, _ = srv.login("rina")
    page = c.get("/").text
    assert "Flagged forms" in page and 'id="publish"' in page
    r = c.get("/crop/1.png")
    assert r.status_code == 404  # this release has no scans: no crop, never an error page
    assert "Content-Security-Policy" in c.get("/work").headers
    audit = c.get("/audit")
    assert audit.status_code == 200 and "login_failed" in audit.text and "decide" in audit.text


def test_csv_loop_records_into_the_same_db(srv: Server, tmp_path: Path) -> None:
    from review.publish import record_corrections_csv
    from transform.corrections import CorrectionsError

    with srv.engine.connect() as conn:
        rows = conn.execute(select(db.items.c.region_code, db.items.c.form_type, db.items.c.field_id,
                                   db.items.c.reading).join(db.tasks, db.tasks.c.item_id == db.items.c.id)
                            .where(db.tasks.c.state == "open").order_by(db.items.c.id.desc()).limit(3)).all()
    path = tmp_path / "corrections.csv"

    def write(reviewer: str) -> None:
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["region_code", "form_type", "field_id", "old_value", "new_value", "reviewer", "reason"])
            for r in rows:
                w.writerow([r.region_code, r.form_type, r.field_id, "" if r.reading is None else r.reading,
                            TRUTH[r.field_id], reviewer, "offline"])

    before = _count(srv, db.decisions)
    write("stranger")
    with pytest.raises(CorrectionsError, match="no account"):
        record_corrections_csv(srv.engine, srv.releases, path)
    assert _count(srv, db.decisions) == before
    write("budi")
    res = record_corrections_csv(srv.engine, srv.releases, path)
    assert res["recorded"] == 3 and not res["problems"]
    with srv.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(db.decisions)
                            .where(db.decisions.c.source == "csv")).scalar_one() == 3
    with pytest.raises(CorrectionsError, match="no open field"):  # the same CSV twice: nothing twice
        record_corrections_csv(srv.engine, srv.releases, path)


def test_user_add_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    releases = tmp_path / "releases"
    releases.mkdir()
    run = CliRunner().invoke(app, ["review", "user", "add", "dewi", "--role", "supervisor", "--releases",
                                   str(releases), "--password-stdin"], input="a long password\n")
    assert run.exit_code == 0, run.output
    assert "added supervisor dewi" in run.output
    bad = CliRunner().invoke(app, ["review", "user", "add", "dewi", "--releases", str(releases),
                                   "--password-stdin"], input="a long password\n")
    assert bad.exit_code == 2 and "exists already" in bad.output
    from review.auth import login
    from review.db import connect

    engine = connect(default_url(releases))
    assert login(engine, "dewi", "a long password") and login(engine, "dewi", "wrong") is None
    with engine.connect() as conn:
        stored = conn.execute(select(db.users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2") and "a long password" not in stored

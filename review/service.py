"""What stewards and supervisors do, as plain functions over the database (the web app only wires
them): take the next fields (leasing their form), decide, skip, ask for a second opinion, count.

Concurrency: a form is leased by a conditional UPDATE (free or expired -> mine) whose row count says
who won; a decision is an INSERT under a unique (item, round) constraint plus a conditional UPDATE
of its task (open -> done) in the same transaction, so a decision is stored once or not at all.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, Engine, and_, exists, func, insert, not_, or_, select, update
from sqlalchemy.exc import IntegrityError

from review import db
from review.auth import User
from review.queue import now
from schemas.layout import load_layout
from transform.rules import checkable, rules_for

LEASE_MINUTES = 15
MAX_ROUND = 2
ACTIONS = ("value", "confirm", "unreadable")
_EMPTY = {"-", "x", "X", "kosong", "blank"}


class ReviewError(Exception):
    """A refused request; ``status`` is the HTTP status the web app answers with."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadValue(ReviewError):
    status = 422


class NotFound(ReviewError):
    status = 404


class Conflict(ReviewError):
    status = 409


class Forbidden(ReviewError):
    status = 403


def parse_value(raw: str | int | None, max_value: int) -> tuple[int | None, bool]:
    """(value, empty) from what a steward typed: a whole number 0..max_value, or "-" for a field
    left empty on paper. Anything else raises ``BadValue`` with a message for the steward."""
    text = str(raw if raw is not None else "").strip()
    if text in _EMPTY:
        return None, True
    if not text:
        raise BadValue("type a number (or - for an empty field)")
    if not (text.isascii() and text.isdigit()):
        raise BadValue(f"'{text[:20]}' is not a whole number: digits only (or - for an empty field)")
    if len(text) > 6 or int(text) > max_value:
        raise BadValue(f"{text[:20]} is out of range: this field holds 0-{max_value}")
    return int(text), False


# --------------------------------------------------------------------------- the next fields

def _eligible(user: User):  # noqa: ANN202
    """Open tasks this user may take: not skipped by them, not a second opinion on their own decision."""
    t = db.tasks
    return and_(t.c.state == "open",
                or_(t.c.excluded_user_id.is_(None), t.c.excluded_user_id != user.id),
                not_(exists().where(db.skips.c.task_id == t.c.id, db.skips.c.user_id == user.id)))


def _tasks_of_form(conn: Connection, form_id: int, user: User, limit: int) -> list[dict]:
    t, i, f = db.tasks, db.items, db.forms
    rows = conn.execute(
        select(t.c.id.label("task_id"), t.c.round, t.c.reason, i.c.id.label("item_id"), i.c.release_id,
               i.c.region_code, i.c.form_type, i.c.field_id, i.c.reading, i.c.confidence, i.c.max_value,
               i.c.detail, f.c.status, f.c.form_values)
        .join(i, i.c.id == t.c.item_id).join(f, f.c.id == t.c.form_id)
        .where(t.c.form_id == form_id, _eligible(user)).order_by(i.c.position, t.c.round).limit(limit)).all()
    out = []
    for r in rows:
        d = dict(r._mapping)
        d.pop("form_values")
        detail = d.pop("detail")
        d.update({k: detail.get(k) for k in ("why", "label", "section", "alternatives", "bubble_value",
                                             "bubble_confident", "read", "rules", "suggestions", "auto")})
        d["has_source"] = bool(detail.get("source"))
        d["crop"] = f"/crop/{d['item_id']}.png"
        d["bubbles_crop"] = f"/crop/{d['item_id']}-bubbles.png"
        out.append(d)
    return out


def next_tasks(engine: Engine, user: User, limit: int = 3, lease_minutes: float = LEASE_MINUTES) -> list[dict]:
    """Up to ``limit`` fields for ``user``, all of one form they hold: the form leased already (lease
    renewed), else the first free (or expired) form with work for them. [] when nothing is left."""
    f, t = db.forms, db.tasks
    limit = max(1, min(int(limit), 20))
    for _attempt in range(10):
        ts = now()
        until = ts + timedelta(minutes=lease_minutes)
        with engine.begin() as conn:
            held = conn.execute(select(f.c.id).where(f.c.lease_user_id == user.id, f.c.lease_expires > ts)
                                .order_by(f.c.id)).scalars().all()
            for form_id in held:
                got = _tasks_of_form(conn, form_id, user, limit)
                if got:
                    conn.execute(update(f).where(f.c.id == form_id, f.c.lease_user_id == user.id)
                                 .values(lease_expires=until))
                    return got
                conn.execute(update(f).where(f.c.id == form_id, f.c.lease_user_id == user.id)
                             .values(lease_user_id=None, lease_expires=None))
            free = or_(f.c.lease_user_id.is_(None), f.c.lease_expires <= ts)
            # open tasks in form order (index ix_tasks_state_form): no GROUP BY over the whole queue
            cands = list(dict.fromkeys(conn.execute(
                select(t.c.form_id).join(f, f.c.id == t.c.form_id).where(_eligible(user), free)
                .order_by(t.c.form_id).limit(40)).scalars().all()))[:5]
            if not cands:
                return []
            for form_id in cands:
                won = conn.execute(update(f).where(f.c.id == form_id, free)
                                   .values(lease_user_id=user.id, lease_expires=until)).rowcount
                if won == 1:
                    conn.execute(insert(db.audit).values(at=ts, user_id=user.id, action="lease",
                                                         detail={"form_id": form_id}))
                    return _tasks_of_form(conn, form_id, user, limit)
        # every candidate was taken between our SELECT and UPDATE (PostgreSQL): look again
    return []


def release_leases(engine: Engine, user: User) -> None:
    with engine.begin() as conn:
        conn.execute(update(db.forms).where(db.forms.c.lease_user_id == user.id)
                     .values(lease_user_id=None, lease_expires=None))


# --------------------------------------------------------------------------- deciding

def _task_row(conn: Connection, task_id: int):  # noqa: ANN202
    t, i, f = db.tasks, db.items, db.forms
    return conn.execute(
        select(t.c.id, t.c.state, t.c.round, t.c.item_id, t.c.form_id, t.c.excluded_user_id, i.c.field_id,
               i.c.reading, i.c.max_value, i.c.form_type, f.c.lease_user_id, f.c.lease_expires, f.c.form_values)
        .join(i, i.c.id == t.c.item_id).join(f, f.c.id == t.c.form_id).where(t.c.id == task_id)).first()


def decide(engine: Engine, user: User, task_id: int, action: str, raw_value: str | int | None = None,
           lease_minutes: float = LEASE_MINUTES, require_lease: bool = True, source: str = "web") -> dict:
    """Store one decision on an open task: ``value`` (what the paper says), ``confirm`` (the reading
    is right) or ``unreadable``. Refused (nothing stored) when the value is bad, the task is decided
    already, or the form is not leased to ``user``. A round-1 decision that leaves a hard rule of
    the form broken, or ``unreadable``, opens a second opinion (round 2) for another steward."""
    if action not in ACTIONS:
        raise BadValue(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    try:
        task_id = int(task_id)
    except (TypeError, ValueError):
        raise NotFound("no such field") from None
    ts = now()
    try:
        with engine.begin() as conn:
            row = _task_row(conn, task_id)
            if row is None:
                raise NotFound("no such field")
            value, empty = None, False
            if action == "value":
                value, empty = parse_value(raw_value, row.max_value)
            elif action == "confirm":
                value, empty = row.reading, row.reading is None
            if row.state != "open":
                raise Conflict("this field is decided already")
            if row.excluded_user_id == user.id:
                raise Conflict("a second opinion must come from another steward")
            if require_lease and not (row.lease_user_id == user.id and row.lease_expires and row.lease_expires > ts):
                raise Conflict("your hold on this form has expired; take the next field")
            conn.execute(insert(db.decisions).values(task_id=task_id, item_id=row.item_id, round=row.round,
                                                     user_id=user.id, action=action, value=value,
                                                     empty=int(empty), at=ts, source=source))
            done = conn.execute(update(db.tasks).where(db.tasks.c.id == task_id, db.tasks.c.state == "open")
                                .values(state="done")).rowcount
            if done != 1:
                raise Conflict("this field is decided already")
            if require_lease:
                conn.execute(update(db.forms).where(db.forms.c.id == row.form_id,
                                                    db.forms.c.lease_user_id == user.id)
                             .values(lease_expires=ts + timedelta(minutes=lease_minutes)))
            opened = []
            if row.round < MAX_ROUND:
                if action == "unreadable":
                    opened = _open_round(conn, [(row.item_id, user.id)], row.round + 1, "unreadable", ts)
                else:
                    opened = _rule_check(conn, row, ts)
            conn.execute(insert(db.audit).values(at=ts, user_id=user.id, action="decide", detail={
                "task_id": task_id, "item_id": row.item_id, "round": row.round, "action": action,
                "value": value, "empty": empty, "second_opinion": opened, "source": source}))
    except IntegrityError:
        raise Conflict("this field is decided already") from None
    return {"task_id": task_id, "action": action, "value": value, "empty": empty, "second_opinion": opened}


def _open_round(conn: Connection, items_users: list[tuple[int, int | None]], round_no: int, reason: str,
                ts) -> list[int]:  # noqa: ANN001
    """Open round ``round_no`` for these items (each excluded for its first decider); an item with
    that round already is left alone. Returns the items opened."""
    opened = []
    for item_id, excluded in items_users:
        form_id = conn.execute(select(db.items.c.form_id).where(db.items.c.id == item_id)).scalar_one()
        try:
            with conn.begin_nested():
                conn.execute(insert(db.tasks).values(item_id=item_id, form_id=form_id, round=round_no, state="open",
                                                     reason=reason, excluded_user_id=excluded, created_at=ts))
            opened.append(item_id)
        except IntegrityError:
            continue
    return opened


def _rule_check(conn: Connection, row, ts) -> list[int]:  # noqa: ANN001
    """After a round-1 decision: every hard rule of the form through this field whose fields are all
    settled (not doubtful, or decided) and that is broken opens a second opinion on its decided fields."""
    t, i, d = db.tasks, db.items, db.decisions
    rows = conn.execute(
        select(i.c.id, i.c.field_id, t.c.state, t.c.round, d.c.action, d.c.value, d.c.user_id)
        .join(t, t.c.item_id == i.c.id).outerjoin(d, d.c.task_id == t.c.id)
        .where(i.c.form_id == row.form_id).order_by(t.c.round)).all()
    pending: set[str] = set()
    decided: dict[str, tuple[int, int | None, int, int]] = {}  # field -> (item, value, round, user)
    for r in rows:
        if r.state == "open":
            pending.add(r.field_id)
        elif r.state == "done" and r.action in ("value", "confirm"):
            decided[r.field_id] = (r.id, r.value, r.round, r.user_id)
        elif r.state == "done":
            pending.add(r.field_id)  # unreadable: not settled
    values = dict(row.form_values) | {k: v[1] for k, v in decided.items()}
    ids = load_layout(row.form_type).field_ids()
    present = checkable(values, ids)
    broken = []
    for rule in rules_for(ids):
        if rule.severity != "hard" or row.field_id not in rule.fields:
            continue
        if any(fid in pending for fid in rule.fields) or not all(fid in present for fid in rule.fields):
            continue
        if rule.check(present) is not None:
            broken.append(rule)
    targets = {decided[fid][0]: decided[fid][3] for rule in broken for fid in rule.fields
               if fid in decided and decided[fid][2] < MAX_ROUND}
    return _open_round(conn, sorted(targets.items()), 2, "rule", ts) if targets else []


def skip(engine: Engine, user: User, task_id: int) -> None:
    with engine.begin() as conn:
        if conn.execute(select(db.tasks.c.id).where(db.tasks.c.id == task_id)).first() is None:
            raise NotFound("no such field")
        try:
            with conn.begin_nested():
                conn.execute(insert(db.skips).values(user_id=user.id, task_id=task_id, at=now()))
        except IntegrityError:
            pass
        conn.execute(insert(db.audit).values(at=now(), user_id=user.id, action="skip", detail={"task_id": task_id}))


def mark_second_opinion(engine: Engine, user: User, item_id: int) -> dict:
    """A supervisor asks another steward to look at a decided field again (round 2)."""
    if not user.supervisor:
        raise Forbidden("only a supervisor marks second opinions")
    ts = now()
    with engine.begin() as conn:
        last = conn.execute(select(db.tasks.c.round, db.tasks.c.state, db.decisions.c.user_id)
                            .outerjoin(db.decisions, db.decisions.c.task_id == db.tasks.c.id)
                            .where(db.tasks.c.item_id == item_id).order_by(db.tasks.c.round.desc())).first()
        if last is None:
            raise NotFound("no such field")
        if last.state != "done":
            raise Conflict("this field is not decided yet")
        if last.round >= MAX_ROUND:
            raise Conflict("this field had its second opinion already")
        opened = _open_round(conn, [(item_id, last.user_id)], last.round + 1, "supervisor", ts)
        if not opened:
            raise Conflict("this field had its second opinion already")
        conn.execute(insert(db.audit).values(at=ts, user_id=user.id, action="second_opinion",
                                             detail={"item_id": item_id}))
    return {"item_id": item_id, "round": last.round + 1}


# --------------------------------------------------------------------------- overview

def stats(engine: Engine) -> dict:
    t, d, u = db.tasks, db.decisions, db.users
    with engine.connect() as conn:
        by_state = dict(conn.execute(select(t.c.state, func.count()).group_by(t.c.state)).all())
        second = conn.execute(select(func.count()).select_from(t).where(t.c.round > 1, t.c.state == "open")
                              ).scalar_one()
        unpublished = conn.execute(select(func.count()).select_from(d).where(d.c.publication_id.is_(None),
                                                                             d.c.action != "unreadable")).scalar_one()
        per_user = conn.execute(select(u.c.name, func.count(d.c.id)).join(d, d.c.user_id == u.c.id)
                                .group_by(u.c.name).order_by(func.count(d.c.id).desc())).all()
        leased = conn.execute(select(func.count()).select_from(db.forms)
                              .where(db.forms.c.lease_expires > now())).scalar_one()
        releases = conn.execute(select(db.releases.c.id).order_by(db.releases.c.loaded_at.desc())).scalars().all()
    return {"open": by_state.get("open", 0), "done": by_state.get("done", 0), "second_open": second,
            "unpublished": unpublished, "leased_forms": leased, "per_user": [tuple(r) for r in per_user],
            "release": releases[0] if releases else None}


def recent_decisions(engine: Engine, limit: int = 50) -> list[dict]:
    d, i, u = db.decisions, db.items, db.users
    with engine.connect() as conn:
        rows = conn.execute(
            select(d.c.id, d.c.at, d.c.round, d.c.action, d.c.value, d.c.empty, d.c.publication_id,
                   i.c.id.label("item_id"), i.c.region_code, i.c.form_type, i.c.field_id, i.c.reading,
                   u.c.name.label("user"))
            .join(i, i.c.id == d.c.item_id).join(u, u.c.id == d.c.user_id)
            .order_by(d.c.id.desc()).limit(limit)).all()
    return [dict(r._mapping) for r in rows]


def form_summary(engine: Engine, limit: int = 200) -> list[dict]:
    """Per form of the newest release: fields open / done, who holds it."""
    f, t, u = db.forms, db.tasks, db.users
    with engine.connect() as conn:
        rel = conn.execute(select(db.releases.c.id).order_by(db.releases.c.loaded_at.desc())).scalars().first()
        rows = conn.execute(
            select(f.c.id, f.c.region_code, f.c.form_type, f.c.status, f.c.lease_expires, u.c.name.label("holder"),
                   func.sum(func.cast(t.c.state == "open", db.Integer)).label("open"),
                   func.sum(func.cast(t.c.state == "done", db.Integer)).label("done"))
            .join(t, t.c.form_id == f.c.id).outerjoin(u, u.c.id == f.c.lease_user_id)
            .where(f.c.release_id == rel).group_by(f.c.id, u.c.name).order_by(f.c.id).limit(limit)).all()
    ts = now()
    out = []
    for r in rows:
        m = dict(r._mapping)
        if not (m["lease_expires"] and m["lease_expires"] > ts):
            m["holder"] = None
        out.append(m)
    return out


def audit_log(engine: Engine, limit: int = 200) -> list[dict]:
    """The newest audit entries (who did what, when), for supervisors."""
    a, u = db.audit, db.users
    with engine.connect() as conn:
        rows = conn.execute(select(a.c.id, a.c.at, a.c.action, a.c.detail, u.c.name.label("user"))
                            .outerjoin(u, u.c.id == a.c.user_id).order_by(a.c.id.desc()).limit(limit)).all()
    return [dict(r._mapping) for r in rows]

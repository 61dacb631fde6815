"""From decisions in the database to a new release, and from a corrections CSV into the database.

``publish_decisions`` is the ONE adapter onto the ``pindai review apply`` path: it turns the
decisions into the very corrections.csv rows ``review apply`` takes (``transform.corrections``) and
hands them to ``load.lineage.publish_corrections`` (apply on top of the ledger in force, re-validate,
publish the child release, store the labelled crops), without Prefect. Steward names go in; the
release holds only their pseudonyms.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, insert, select, update

from review import db
from review.auth import User
from review.queue import now, sync_release
from review.service import Conflict, Forbidden, ReviewError, decide
from transform.corrections import COLUMNS, CorrectionsError, read_corrections

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    """A final decision on one field, as the adapter needs it."""

    region_code: str
    form_type: str
    field_id: str
    old: int | None  # the value in the release the field was queued from
    new: int | None
    reviewer: str  # the steward's account name (pseudonymised on publication)
    reason: str = ""


def _fmt(v: int | None) -> str:
    return "-" if v is None else str(v)


def corrections_rows(decisions: Iterable[Decision]) -> list[dict[str, str]]:
    """The rows of a corrections.csv, as ``pindai review apply`` reads it."""
    return [{"region_code": d.region_code, "form_type": d.form_type, "field_id": d.field_id,
             "old_value": _fmt(d.old), "new_value": _fmt(d.new), "reviewer": d.reviewer, "reason": d.reason}
            for d in decisions]


def publish_decisions(releases_dir: Path, decisions: list[Decision], work_dir: Path | None = None,
                      register_file: str | None = None) -> str:
    """Apply ``decisions`` to the latest release of ``releases_dir`` and publish a new release through
    ``load.lineage.publish_corrections`` (the path of ``pindai review apply``: the ledger, the register
    in force, the labelled crops). A copy of the rows is kept in ``work_dir`` for the record. Returns
    the new release id, or the latest one's when the decisions change nothing. Raises
    ``CorrectionsError`` (nothing published) when a decision does not fit the latest release."""
    from load.lineage import publish_corrections

    releases_dir = Path(releases_dir)
    work_dir = Path(work_dir or releases_dir / db.STATE_DIR / "review" / "published")
    work_dir.mkdir(parents=True, exist_ok=True)
    stamp = now().strftime("%Y%m%dT%H%M%S%f")
    rows = corrections_rows(decisions)
    with open(work_dir / f"corrections-{stamp}.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    outcome = publish_corrections(releases_dir, rows, "steward", register_file, source=f"review session {stamp}")
    return Path(outcome.release).name


# --------------------------------------------------------------------------- publishing from the DB

def _take_lock(engine: Engine, holder: int) -> bool:
    with engine.begin() as conn:
        return conn.execute(update(db.locks).where(db.locks.c.name == "publish", db.locks.c.holder.is_(None))
                            .values(holder=holder, at=now())).rowcount == 1


def _drop_lock(engine: Engine, holder: int) -> None:
    with engine.begin() as conn:
        conn.execute(update(db.locks).where(db.locks.c.name == "publish", db.locks.c.holder == holder)
                     .values(holder=None, at=None))


def publish_from_db(engine: Engine, releases_dir: Path, user: User, register_file: str | None = None) -> dict:
    """A supervisor publishes every final, unpublished decision as a new release: claim them (a
    conditional update), publish through ``publish_decisions``, record the outcome, load the new
    release into the queue. On failure the claim is undone and nothing is lost."""
    if not user.supervisor:
        raise Forbidden("only a supervisor publishes")
    d, i, t, u = db.decisions, db.items, db.tasks, db.users
    with engine.begin() as conn:
        pub = conn.execute(insert(db.publications).values(user_id=user.id, at=now(), state="running", decisions=0)
                           .returning(db.publications.c.id)).scalar_one()
    if not _take_lock(engine, pub):
        with engine.begin() as conn:
            conn.execute(update(db.publications).where(db.publications.c.id == pub)
                         .values(state="failed", detail="another publication is running"))
        raise Conflict("another publication is running; try again in a minute")
    try:
        with engine.begin() as conn:
            base = conn.execute(select(db.releases.c.id).order_by(db.releases.c.loaded_at.desc())).scalars().first()
            # the highest decided round per item, among items with an unpublished decision and no open round
            open_items = select(t.c.item_id).where(t.c.state == "open")
            latest = (select(d.c.item_id, func.max(d.c.round).label("round"))
                      .where(d.c.item_id.in_(select(d.c.item_id).where(d.c.publication_id.is_(None))),
                             d.c.item_id.not_in(open_items))
                      .group_by(d.c.item_id).subquery())
            rows = conn.execute(
                select(d.c.id, d.c.item_id, d.c.action, d.c.value, d.c.publication_id, i.c.region_code,
                       i.c.form_type, i.c.field_id, i.c.reading, i.c.release_id, u.c.name)
                .join(latest, (latest.c.item_id == d.c.item_id) & (latest.c.round == d.c.round))
                .join(i, i.c.id == d.c.item_id).join(u, u.c.id == d.c.user_id)
                .order_by(d.c.item_id)).all()
            final = [r for r in rows if r.action in ("value", "confirm") and r.publication_id is None]
            item_ids = [r.item_id for r in final]
            claimed = 0
            for k in range(0, len(item_ids), 500):
                chunk = item_ids[k:k + 500]
                claimed += conn.execute(update(d).where(d.c.item_id.in_(chunk), d.c.publication_id.is_(None))
                                        .values(publication_id=pub)).rowcount
        if not final:
            raise Conflict("nothing to publish: no decided field is waiting")
        decisions = [Decision(r.region_code, r.form_type, r.field_id, r.reading if r.release_id == base else None,
                              r.value, r.name, "confirmed by a steward" if r.action == "confirm" else
                              "corrected by a steward") for r in final]
        new_id = publish_decisions(releases_dir, decisions, register_file=register_file)
    except Exception as exc:
        with engine.begin() as conn:
            conn.execute(update(d).where(d.c.publication_id == pub).values(publication_id=None))
            conn.execute(update(db.publications).where(db.publications.c.id == pub)
                         .values(state="failed", detail=str(exc)[:2000]))
            conn.execute(insert(db.audit).values(at=now(), user_id=user.id, action="publish_failed",
                                                 detail={"publication": pub, "error": str(exc)[:500]}))
        _drop_lock(engine, pub)
        if isinstance(exc, ReviewError):
            raise
        if isinstance(exc, CorrectionsError):
            raise Conflict(f"the decisions do not fit the latest release: {exc}") from exc
        raise
    with engine.begin() as conn:
        conn.execute(update(db.publications).where(db.publications.c.id == pub)
                     .values(state="done", base_release=base, new_release=new_id, decisions=len(final),
                             detail=f"{claimed} decision row(s) claimed"))
        conn.execute(insert(db.audit).values(at=now(), user_id=user.id, action="publish",
                                             detail={"publication": pub, "release": new_id, "decisions": len(final)}))
        sync_release(conn, Path(releases_dir) / new_id)
    _drop_lock(engine, pub)
    return {"publication": pub, "release": new_id, "decisions": len(final)}


# --------------------------------------------------------------------------- the offline CSV loop

def record_corrections_csv(engine: Engine, releases_dir: Path, csv_path: Path, reviewer_default: str = "") -> dict:
    """Record a filled-in corrections.csv (the offline loop) as decisions in the database, as if
    each reviewer had decided on the web: the whole CSV is checked against the latest release first
    (``transform.corrections.read_corrections``); every reviewer must have an account; each row
    decides the open task of its field. Nothing is stored when any row is refused."""
    from load.catalogue import open_release

    release = open_release(Path(releases_dir))
    entries, skipped = read_corrections(Path(csv_path), release.records, reviewer_default)
    problems: list[str] = []
    plan = []
    with engine.connect() as conn:
        accounts = {r.name: User(r.id, r.name, r.role) for r in conn.execute(select(db.users))}
        for e in entries:
            user = accounts.get(e.reviewer)
            task = conn.execute(
                select(db.tasks.c.id).join(db.items, db.items.c.id == db.tasks.c.item_id)
                .where(db.items.c.release_id == release.id, db.items.c.region_code == e.region_code,
                       db.items.c.form_type == e.form_type, db.items.c.field_id == e.field_id,
                       db.tasks.c.state == "open").order_by(db.tasks.c.round)).scalars().first()
            where = f"line {e.line} ({e.region_code} {e.form_type} {e.field_id})"
            if user is None:
                problems.append(f"{where}: reviewer {e.reviewer!r} has no account (pindai review user add)")
            elif task is None:
                problems.append(f"{where}: no open field in the review queue (decided already, or not doubtful)")
            else:
                plan.append((user, task, e))
    if problems:
        raise CorrectionsError(Path(csv_path), problems)
    done = []
    for user, task, e in plan:
        action, value = ("confirm", None) if e.confirmation else ("value", _fmt(e.new))
        try:
            done.append(decide(engine, user, task, action, value, require_lease=False, source="csv"))
        except ReviewError as exc:  # decided on the web meanwhile
            problems.append(f"line {e.line}: {exc.message}")
    return {"recorded": len(done), "skipped_lines": skipped, "problems": problems}

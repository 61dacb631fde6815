"""The queue of doubtful fields, built from a release's form records.

One item per doubtful field (``transform.corrections.doubtful_fields``) of every form that is not
verified: the same fields the corrections.csv template lists. Each item carries what a steward needs
to decide without opening the form: the reading and its confidence, the alternatives, the bubbles,
why it is doubtful, the broken rules with the other fields of each rule and their values, the
arithmetic's suggestion, and where its crop is on the source scan.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, insert, select, update

from review import db
from schemas.layout import load_layout
from schemas.reasons import Status
from schemas.records import FormRecord
from transform.corrections import doubtful_fields
from transform.rules import RULE_CATALOG, rule_number


def now() -> datetime:
    """Naive UTC (stored the same way on SQLite and PostgreSQL)."""
    return datetime.now(UTC).replace(tzinfo=None)


def item_rows(form: FormRecord) -> list[dict]:
    """The queue rows of one form (empty for a verified form)."""
    if form.status == Status.VERIFIED:
        return []
    layout = load_layout(form.form_type)
    readings = {r.field_id: r for r in form.readings}
    where = {}
    for p in form.pages:
        for r in p.fields:
            where.setdefault(r.field_id, {"file": p.file, "page_index": p.page_index, "page": p.registration.page,
                                          "homography": p.registration.homography,
                                          "anchors": p.registration.anchors,
                                          "anchor_scale": p.registration.anchor_scale})
    out = []
    for pos, (fid, why) in enumerate(doubtful_fields(form).items()):
        r = readings.get(fid)
        rules = []
        for i in form.issues:
            if fid not in i.fields:
                continue
            num = rule_number(i.rule_id)
            doc = RULE_CATALOG.get(num) if num else None
            rules.append({"rule_id": i.rule_id, "severity": i.severity, "message": i.message_en,
                          "message_id": i.message_id, "text": doc.text_en if doc else "",
                          "expected": i.expected, "found": i.found,
                          "fields": [{"field_id": f, "value": form.values.get(f)} for f in i.fields]})
        sugg = [{"new": s.new, "probability": s.probability, "rules": s.rules, "detail": s.detail}
                for s in form.suggestions if s.field_id == fid]
        corr = [{"old": c.old, "new": c.new, "by": c.by, "reason": c.reason}
                for c in form.corrections if c.field_id == fid and c.by == "auto"]
        fld = layout.field(fid)
        detail = {
            "why": why, "label": fld.label_id, "section": fld.section,
            "alternatives": [[v, p] for v, p in (r.alternatives if r else [])[:4]],
            "bubble_value": r.bubble_value if r else None, "bubble_confident": bool(r and r.bubble_confident),
            "read": r.value if r else None, "rules": rules, "suggestions": sugg, "auto": corr,
            "source": where.get(fid),
        }
        out.append({"field_id": fid, "position": pos, "reading": form.values.get(fid),
                    "confidence": r.confidence if r else None, "max_value": fld.max_value, "detail": detail})
    return out


def sync_release(conn: Connection, release_dir: Path) -> int:
    """Load the release in ``release_dir`` into the queue unless it is there already; open tasks of
    older releases are superseded (their fields come back with the new release if still doubtful).
    Returns the number of new items."""
    release_dir = Path(release_dir).resolve()
    release_id = release_dir.name
    if conn.execute(select(db.releases.c.id).where(db.releases.c.id == release_id)).first():
        return 0
    from load.catalogue import open_release

    release = open_release(release_dir)
    t = now()
    conn.execute(insert(db.releases).values(id=release_id, input_dir=release.run.input_dir, loaded_at=t))
    conn.execute(update(db.tasks).where(db.tasks.c.state == "open").values(state="superseded"))
    n = 0
    for form in release.records:
        rows = item_rows(form)
        if not rows:
            continue
        form_id = conn.execute(insert(db.forms).values(
            release_id=release_id, region_code=form.region_code, form_type=form.form_type.value,
            status=form.status.value, form_values=form.values).returning(db.forms.c.id)).scalar_one()
        for row in rows:
            item_id = conn.execute(insert(db.items).values(
                form_id=form_id, release_id=release_id, region_code=form.region_code,
                form_type=form.form_type.value, **row).returning(db.items.c.id)).scalar_one()
            conn.execute(insert(db.tasks).values(item_id=item_id, form_id=form_id, round=1, state="open",
                                                 reason="queue", created_at=t))
            n += 1
    conn.execute(insert(db.audit).values(at=t, user_id=None, action="queue_loaded",
                                         detail={"release": release_id, "items": n}))
    return n

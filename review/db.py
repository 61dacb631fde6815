"""The review database: tables (SQLAlchemy Core), the engine, and migrations (Alembic) applied at start.

SQLite (default, one file under the releases folder's state) runs in WAL mode and every transaction
begins IMMEDIATE: a read-then-write never fails half-way with "database is locked", writers queue on
the busy timeout instead. PostgreSQL (any SQLAlchemy URL) runs at READ COMMITTED; correctness under
concurrency comes from unique constraints and conditional updates, never from Python locks.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)

MIGRATIONS = Path(__file__).with_name("migrations")
STATE_DIR = ".state"
DB_FILE = "review.db"

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("role", String(20), nullable=False),  # steward | supervisor
    Column("password_hash", String(255), nullable=False),
    Column("created_at", DateTime(), nullable=False),
)

sessions = Table(
    "sessions", metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 of the cookie: a DB leak gives no session
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("expires_at", DateTime(), nullable=False),
)

releases = Table(
    "releases", metadata,
    Column("id", String(100), primary_key=True),
    Column("input_dir", Text, nullable=True),
    Column("loaded_at", DateTime(), nullable=False),
)

# One row per flagged form of a release: the lease lives here (a form is held by one steward).
forms = Table(
    "forms", metadata,
    Column("id", Integer, primary_key=True),
    Column("release_id", String(100), ForeignKey("releases.id"), nullable=False),
    Column("region_code", String(20), nullable=False),
    Column("form_type", String(30), nullable=False),
    Column("status", String(20), nullable=False),
    Column("form_values", JSON, nullable=False),  # the release's values, for rule checks and context
    Column("lease_user_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("lease_expires", DateTime(), nullable=True),
    UniqueConstraint("release_id", "region_code", "form_type", name="uq_forms_release_form"),
    Index("ix_forms_lease_user", "lease_user_id"),
)

# One row per doubtful field (the queue).
items = Table(
    "items", metadata,
    Column("id", Integer, primary_key=True),
    Column("form_id", Integer, ForeignKey("forms.id"), nullable=False),
    Column("release_id", String(100), nullable=False),
    Column("region_code", String(20), nullable=False),
    Column("form_type", String(30), nullable=False),
    Column("field_id", String(60), nullable=False),
    Column("position", Integer, nullable=False),  # layout order inside the form
    Column("reading", Integer, nullable=True),  # the release's value
    Column("confidence", Float, nullable=True),
    Column("max_value", Integer, nullable=False),
    Column("detail", JSON, nullable=False),  # why, alternatives, bubbles, rules (+ their other fields), source
    UniqueConstraint("release_id", "region_code", "form_type", "field_id", name="uq_items_field"),
    Index("ix_items_form", "form_id"),
)

# The work unit: an item in a round. Round 1 for every item; round 2 = a second opinion.
tasks = Table(
    "tasks", metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id"), nullable=False),
    Column("form_id", Integer, ForeignKey("forms.id"), nullable=False),
    Column("round", Integer, nullable=False),
    Column("state", String(12), nullable=False),  # open | done | superseded
    Column("reason", String(20), nullable=False),  # queue | supervisor | rule | unreadable
    Column("excluded_user_id", Integer, nullable=True),  # a second opinion is never the first decider's
    Column("created_at", DateTime(), nullable=False),
    UniqueConstraint("item_id", "round", name="uq_tasks_item_round"),
    Index("ix_tasks_form_state", "form_id", "state"),
    Index("ix_tasks_state_form", "state", "form_id"),
)

decisions = Table(
    "decisions", metadata,
    Column("id", Integer, primary_key=True),
    Column("task_id", Integer, ForeignKey("tasks.id"), nullable=False, unique=True),  # one per item and round
    Column("item_id", Integer, ForeignKey("items.id"), nullable=False),
    Column("round", Integer, nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("action", String(12), nullable=False),  # value | confirm | unreadable
    Column("value", Integer, nullable=True),
    Column("empty", Integer, nullable=False, default=0),  # 1: the field is empty on paper ("-")
    Column("at", DateTime(), nullable=False),
    Column("publication_id", Integer, ForeignKey("publications.id"), nullable=True),
    Column("source", String(20), nullable=False, default="web"),  # web | csv
    UniqueConstraint("item_id", "round", name="uq_decisions_item_round"),
    Index("ix_decisions_publication", "publication_id"),
    Index("ix_decisions_item", "item_id"),
)

skips = Table(
    "skips", metadata,
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("task_id", Integer, ForeignKey("tasks.id"), primary_key=True),
    Column("at", DateTime(), nullable=False),
)

publications = Table(
    "publications", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("at", DateTime(), nullable=False),
    Column("state", String(12), nullable=False),  # running | done | failed
    Column("base_release", String(100), nullable=True),
    Column("new_release", String(100), nullable=True),
    Column("decisions", Integer, nullable=False, default=0),
    Column("detail", Text, nullable=True),
)

# One row per lock name ("publish"): taken by a conditional update, so two supervisors never publish
# onto the same base release at once, on any database.
locks = Table(
    "locks", metadata,
    Column("name", String(30), primary_key=True),
    Column("holder", Integer, nullable=True),
    Column("at", DateTime(), nullable=True),
)

audit = Table(
    "audit", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", DateTime(), nullable=False),
    Column("user_id", Integer, nullable=True),
    Column("action", String(30), nullable=False),
    Column("detail", JSON, nullable=False),
    Index("ix_audit_at", "at"),
)


def default_url(releases_dir: Path) -> str:
    state = Path(releases_dir) / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(state / DB_FILE).resolve()}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout, foreign keys and BEGIN IMMEDIATE."""
    if url.startswith("sqlite"):
        # One connection: SQLite has one writer anyway, and threads waiting on the pool wake at once,
        # where waiting on SQLite's busy handler sleeps in growing steps (the p95 doubled with 4 stewards).
        # Correctness does not rest on this: a second server process on the same file stays correct.
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=1, max_overflow=0, pool_timeout=60)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _rec) -> None:  # noqa: ANN001
            dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn) -> None:  # noqa: ANN001
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def connect(url: str) -> Engine:
    engine = make_engine(url)
    migrate(engine)
    return engine

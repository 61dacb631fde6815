"""Fixtures for the review app: a release with real page images, a throw-away PostgreSQL cluster
started by the test itself (when Debian's postgresql is installed), and a private reviewed-crop store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from review_factory import PPU, TRUTH, UNSURE, _page_image, outcome, publish_release, region


@pytest.fixture(scope="session")
def scanned_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three flagged PPWP forms with real page images (crops come from them): a releases folder."""
    import cv2

    root = tmp_path_factory.mktemp("scanned")
    inputs = root / "inputs"
    inputs.mkdir()
    outcomes = []
    for k in range(3):
        code = region(k)
        files = {p: f"{code}_ppwp_p{p}.png" for p in (1, 2, 3)}
        values = dict(TRUTH, votes_2=73) if k == 2 else TRUTH  # the third: an officer's slip (R3)
        for p, name in files.items():
            cv2.imwrite(str(inputs / name), _page_image(p, values, 10 * k + p))
        outcomes.append(outcome(values, region=code, file=files[1], H=[[PPU, 0, 0], [0, PPU, 0], [0, 0, 1]],
                                file_of=files, page_index_of={1: 0, 2: 0, 3: 0}, unsure=UNSURE))
    return publish_release(root, outcomes, inputs)


# --------------------------------------------------------------------------- a throw-away PostgreSQL

@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL cluster on a free local port, started by the test (review.pgtemp)."""
    from review import pgtemp

    if not pgtemp.available():
        pytest.skip("PostgreSQL (Debian's postgresql package) is not installed")
    pytest.importorskip("psycopg")
    with pgtemp.cluster(fsync=False) as url:
        yield url


@pytest.fixture
def fresh_postgres(postgres_url: str) -> str:
    """An empty database of its own on the session's cluster."""
    import uuid

    from sqlalchemy import create_engine, text

    name = "t" + uuid.uuid4().hex[:12]
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return postgres_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(autouse=True)
def _reviewed_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Publishing stores labelled crops; keep them in the test's folder."""
    monkeypatch.setenv("PINDAI_REVIEWED_DIR", str(tmp_path / "reviewed"))

"""Helpers for the review app's tests: real releases with flagged forms (published by load.release)
and a real uvicorn server on a free loopback port. (Not conftest.py: tests/load imports its own
``conftest`` by name, and two modules of that name cannot share one test session.)"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "transform"))

from transform_factory import consistent_ppwp, outcome  # noqa: E402

from load.release import publish  # noqa: E402
from transform.validate import build_result  # noqa: E402

PASSWORD = "correct horse battery"
TRUTH = consistent_ppwp()
# Unsure boxes the arithmetic cannot settle alone (two readings fit): every such form needs a person.
UNSURE = {"votes_1": {1: {"3": 0.5, "8": 0.3, "9": 0.15}}, "votes_2": {1: {"7": 0.5, "6": 0.45}},
          "dpt_l": {1: {"2": 0.5, "7": 0.45}}, "ballots_unused": {0: {"6": 0.5, "8": 0.45}}}


def region(k: int) -> str:
    return f"3273{k // 50 + 1:02d}{k % 50 + 1:04d}001"


def publish_release(root: Path, outcomes: list, input_dir: Path | None = None) -> Path:
    releases = root / "releases"
    result = build_result(outcomes, "test-model", "test-pipeline")
    publish(result, releases, input_dir)
    return releases


def _page_image(page_no: int, values: dict, seed: int):  # noqa: ANN202
    import numpy as np

    from schemas.layout import FormType, load_layout
    from synth.fill import box_contents, bubble_choice, fill_page
    from synth.handwriting import make_writer
    from synth.render import render_page

    page = load_layout(FormType.PPWP).pages[page_no - 1]
    rng = np.random.default_rng(seed)
    writer = make_writer(rng, None, source="strokes")
    img = render_page(page, PPU).copy()
    boxes = {f.id: box_contents(values.get(f.id), len(f.boxes), writer.lead) for f in page.fields}
    bubbles = {f.id: bubble_choice(boxes[f.id], writer.bubble_lead) for f in page.fields if f.bubbles}
    fill_page(img, page, PPU, boxes, bubbles, writer, rng)
    return img


PPU = 0.7


def many_release(root: Path, forms: int) -> Path:
    """``forms`` flagged forms without images (9 doubtful fields each)."""
    return publish_release(root, [outcome(TRUTH, region=region(k), unsure=UNSURE) for k in range(forms)])


# --------------------------------------------------------------------------- a real server

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    releases: Path
    engine: object
    app: object

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, follow_redirects=False)

    def login(self, name: str, password: str = PASSWORD) -> tuple[httpx.Client, str]:
        """A signed-in client and its CSRF token."""
        c = self.client()
        page = c.get("/login")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        r = c.post("/login", data={"name": name, "password": password, "csrf": csrf})
        assert r.status_code == 303, r.text
        token = c.get("/").text.split('<meta name="csrf" content="')[1].split('"')[0]
        return c, token


@contextmanager
def start_server(releases: Path, db_url: str, users: dict[str, str], lease_minutes: float = 15.0
                 ) -> Iterator[Server]:
    import uvicorn

    from review.app import AppConfig, create_app
    from review.auth import add_user
    from review.db import connect

    engine = connect(db_url)
    for name, role in users.items():
        add_user(engine, name, role, PASSWORD)
    app = create_app(AppConfig(releases_dir=releases, db_url=db_url, lease_minutes=lease_minutes), engine)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, limit_concurrency=200))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield Server(f"http://127.0.0.1:{port}", releases, engine, app)
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()

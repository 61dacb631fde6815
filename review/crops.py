"""Field crops for the review app, cut from the source scan on demand and cached on disk.

The only way in is an item id (an integer from the URL): the source file comes from the database
(the release's input folder + the file the release read), must resolve inside that input folder,
and the cached PNG's path is computed here from the item id. No path from a request is ever used.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, select

from extract.crops import decoded_page, field_crops, png_bytes
from extract.decode import DecodeError
from extract.geometry import PageMap
from review import db
from schemas.layout import load_layout


class CropStore:
    def __init__(self, engine: Engine, releases_dir: Path, pages_in_memory: int = 6) -> None:
        self.engine = engine
        self.root = Path(releases_dir).resolve() / db.STATE_DIR / "review" / "crops"
        self.root.mkdir(parents=True, exist_ok=True)
        self._pages: OrderedDict[tuple[str, int], object] = OrderedDict()
        self._size = pages_in_memory
        self._lock = threading.Lock()  # one decode of a page at a time (prefetch asks twice)

    def path(self, item_id: int, bubbles: bool = False) -> Path:
        return self.root / f"{int(item_id)}{'-bubbles' if bubbles else ''}.png"

    def get(self, item_id: int, bubbles: bool = False) -> bytes | None:
        """The PNG of the item's boxes (or its bubbles), or None when there is none (no source, a
        private area, a field without bubbles)."""
        item_id = int(item_id)
        cached = self.path(item_id, bubbles)
        if cached.is_file():
            return cached.read_bytes()
        none = self.root / f"{item_id}.none"
        if none.exists() and not bubbles:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(db.items.c.form_type, db.items.c.field_id, db.items.c.detail,
                                      db.releases.c.input_dir)
                               .join(db.releases, db.releases.c.id == db.items.c.release_id)
                               .where(db.items.c.id == item_id)).first()
        if row is None:
            return None
        src = (row.detail or {}).get("source")
        if not src or not row.input_dir:
            return None
        base = Path(row.input_dir).resolve()
        path = (base / src["file"]).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            return None
        with self._lock:
            if cached.is_file():
                return cached.read_bytes()
            img = self._page(path, int(src["page_index"]))
            if img is None:
                return None
            page = load_layout(row.form_type).pages[int(src["page"]) - 1]
            pmap = PageMap(np.asarray(src["homography"], np.float64),
                           np.asarray(src["anchors"]) if src.get("anchors") else None,
                           **({"smooth": float(src["anchor_scale"])} if src.get("anchor_scale") else {}))
            crops = field_crops(img.gray, pmap, page, [row.field_id], bubbles=True)
            for key, bub in ((row.field_id, False), (f"{row.field_id}#bubbles", True)):
                if key in crops:
                    tmp = self.path(item_id, bub).with_suffix(".tmp")
                    tmp.write_bytes(png_bytes(crops[key]))
                    tmp.replace(self.path(item_id, bub))
            if row.field_id not in crops:
                none.touch()
        return cached.read_bytes() if cached.is_file() else None

    def _page(self, path: Path, index: int):  # noqa: ANN202
        key = (str(path), index)
        if key in self._pages:
            self._pages.move_to_end(key)
            return self._pages[key]
        try:
            img = decoded_page(path, index)
        except (DecodeError, OSError):
            img = None
        self._pages[key] = img
        while len(self._pages) > self._size:
            self._pages.popitem(last=False)
        return img

"""The TPS register the generator draws real region codes from.

Format (as ``reference/kpu2024-wilayah-tps.json``): ``id2name`` maps 2/4/6/10-digit codes to
names; ``tps`` maps each 10-digit desa code to ``[regular]`` or ``[regular, first, last special]``.
Without ``--register`` the generator uses ``synth/data/register-mini.json`` (derived from the
shared file by ``scripts/make_mini_register.py``), so a fresh clone can generate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class Register:
    id2name: dict[str, str]
    tps: dict[str, list[int]]

    def tps_numbers(self, desa: str) -> list[int]:
        counts = self.tps[desa]
        numbers = list(range(1, counts[0] + 1))
        if len(counts) == 3:
            numbers += list(range(counts[1], counts[2] + 1))
        return numbers

    def tps_codes(self, desa: str) -> list[str]:
        return [f"{desa}{n:03d}" for n in self.tps_numbers(desa)]

    def desa_of_kecamatan(self, kec: str) -> list[str]:
        """Desa of a kecamatan in register (code) order: the D.Hasil attachment's row order."""
        return sorted(d for d in self.tps if d.startswith(kec))

    def kecamatan_of_province(self, prov: str) -> list[str]:
        return sorted({d[:6] for d in self.tps if d.startswith(prov)})

    def name(self, code: str) -> str:
        return self.id2name.get(code, code)

    def header(self, code: str, page: int, n_pages: int) -> dict[str, str]:
        """Typed header values of a form page for a 13-digit TPS or 6-digit kecamatan code."""
        h = {
            "provinsi": self.name(code[:2]),
            "kabkota": self.name(code[:4]),
            "kecamatan": self.name(code[:6]),
            "page_label": f"Halaman {page} dari {n_pages}",
        }
        if len(code) == 13:
            h["desa"] = self.name(code[:10])
            h["tps_number"] = code[10:]
        return h


@cache
def _load(path: str | None) -> Register:
    if path is None:
        text = resources.files("synth").joinpath("data", "register-mini.json").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    data = json.loads(text)
    return Register(id2name=data["id2name"], tps=data["tps"])


def load_register(path: Path | None = None) -> Register:
    return _load(str(path) if path is not None else None)

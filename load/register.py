"""The TPS register a release is measured against (names of regions, expected TPS per desa).

Format of ``reference/kpu2024-wilayah-tps.json`` (and ``synth/data/register-mini.json``):
``id2name`` maps 2/4/6/10-digit region codes to names; ``tps`` maps each 10-digit desa code to
``[regular]`` or ``[regular, first_special, last_special]`` (special TPS numbered 9xx).
The register is optional everywhere in ``load``: without it names are null and expected counts
are unknown.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path


@dataclass(frozen=True)
class Register:
    id2name: dict[str, str]
    tps: dict[str, list[int]]
    sha256: str | None = None  # of the file it was read from (recorded in the manifest)
    source: str | None = None

    def name(self, code: str | None) -> str | None:
        return self.id2name.get(code) if code else None

    def tps_numbers(self, desa: str) -> list[int]:
        counts = self.tps.get(desa)
        if not counts:
            return []
        numbers = list(range(1, counts[0] + 1))
        if len(counts) == 3:
            numbers += list(range(counts[1], counts[2] + 1))
        return numbers

    def tps_count(self, desa: str) -> int:
        """``[n]`` -> n; ``[n, first, last]`` -> n regular + (last - first + 1) special TPS."""
        counts = self.tps.get(desa)
        if not counts:
            return 0
        return counts[0] + (counts[2] - counts[1] + 1 if len(counts) == 3 else 0)

    @cached_property
    def tps_codes(self) -> frozenset[str]:
        return frozenset(f"{d}{n:03d}" for d in self.tps for n in self.tps_numbers(d))

    @cached_property
    def _desa_by_kecamatan(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for d in sorted(self.tps):
            out.setdefault(d[:6], []).append(d)
        return out

    def desa_of_kecamatan(self, kecamatan: str) -> list[str]:
        """Desa of a kecamatan in code order: the row order of the D.Hasil desa attachment."""
        return self._desa_by_kecamatan.get(kecamatan, [])

    def kecamatan_codes(self) -> list[str]:
        return sorted(self._desa_by_kecamatan)

    @cached_property
    def _counts(self) -> tuple[dict[str, int], dict[str, int]]:
        tps: dict[str, int] = {}
        kec: dict[str, int] = {}
        for d in self.tps:
            n = self.tps_count(d)
            for prefix in (d[:2], d[:4], d[:6], d):
                tps[prefix] = tps.get(prefix, 0) + n
        for k in self._desa_by_kecamatan:
            for prefix in (k[:2], k[:4], k):
                kec[prefix] = kec.get(prefix, 0) + 1
        return tps, kec

    def expected_tps(self, prefix: str) -> int:
        """Registered TPS under a 2/4/6/10-digit region code."""
        return self._counts[0].get(prefix, 0)

    def expected_kecamatan(self, prefix: str) -> int:
        """Registered kecamatan under a 2/4/6-digit region code."""
        return self._counts[1].get(prefix, 0)

    @cached_property
    def kecamatan_set(self) -> frozenset[str]:
        return frozenset(self._desa_by_kecamatan)


def load_register(source: Register | Path | str | dict | None) -> Register | None:
    """A register from a path, an already parsed ``{"id2name", "tps"}`` dict, or None."""
    if source is None or isinstance(source, Register):
        return source
    if isinstance(source, dict):
        return Register(id2name=dict(source.get("id2name", {})), tps=dict(source.get("tps", {})))
    path = Path(source)
    raw = path.read_bytes()
    data = json.loads(raw)
    return Register(id2name=dict(data.get("id2name", {})), tps=dict(data.get("tps", {})),
                    sha256=hashlib.sha256(raw).hexdigest(), source=path.name)

"""The TPS register: region names and the polling stations (TPS) every desa has.

Format of ``reference/kpu2024-wilayah-tps.json`` (and the packaged ``schemas/data/register-mini.json``,
derived from it by ``scripts/make_mini_register.py``): ``id2name`` maps 2/4/6/10-digit region codes
(province, kab/kota, kecamatan, desa) to names; ``tps`` maps each 10-digit desa code to ``[n]``
(regular TPS 001..n) or ``[n, first, last]`` (plus special-location TPS first..last, numbered 9xx).
A TPS code is the desa code + the 3-digit TPS number (13 digits).

One ``Register`` serves every stage: the generator draws region codes from it, validation checks
printed header names and decides rule 14 (complete kecamatan), the release takes names and
expected counts from it. It is optional everywhere but in the generator: ``load_register(None)``
is None; ``mini_register()`` is the small packaged one (every province, a few complete kecamatan).
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from pathlib import Path

from schemas.errors import RegisterUnusable

MINI_REGISTER = "register-mini.json"


@dataclass(frozen=True)
class Register:
    id2name: dict[str, str]
    tps: dict[str, list[int]]
    sha256: str | None = None  # of the file it was read from (recorded in the release manifest)
    source: str | None = None  # that file's name
    path: str | None = None  # that file (absolute): a release keeps a copy of it (its lineage)

    def name(self, code: str | None) -> str | None:
        """Name of a 2/4/6/10-digit region code; None when unknown."""
        return self.id2name.get(code) if code else None

    def tps_numbers(self, desa: str) -> list[int]:
        """TPS numbers of a desa: 1..n, then the special ones (none for a desa not in the register)."""
        counts = self.tps.get(desa)
        if not counts:
            return []
        numbers = list(range(1, counts[0] + 1))
        if len(counts) == 3:
            numbers += list(range(counts[1], counts[2] + 1))
        return numbers

    def tps_codes(self, prefix: str = "") -> list[str]:
        """13-digit TPS codes under a region code ("" = all; a desa's in TPS number order)."""
        desa = [prefix] if len(prefix) == 10 else self._desa_under(prefix)
        return [f"{d}{n:03d}" for d in desa for n in self.tps_numbers(d)]

    def desa_of_kecamatan(self, kecamatan: str) -> list[str]:
        """Desa of a kecamatan in code order: the row order of the D.Hasil desa attachment."""
        return self._desa_under(kecamatan) if len(kecamatan) == 6 else []

    def kecamatan_codes(self, prefix: str = "") -> list[str]:
        """6-digit kecamatan codes under a province / kab-kota code ("" = all), sorted."""
        return sorted({d[:6] for d in self._desa_under(prefix)})

    def expected_tps(self, prefix: str) -> int:
        """Registered TPS (regular + special) under a 2/4/6/10-digit region code ("" = all)."""
        return self._counts[0].get(prefix, 0)

    def expected_kecamatan(self, prefix: str) -> int:
        """Registered kecamatan under a 2/4/6-digit region code ("" = all)."""
        return self._counts[1].get(prefix, 0)

    def has_tps(self, code: str) -> bool:
        return len(code) == 13 and code[10:].isdigit() and int(code[10:]) in self.tps_numbers(code[:10])

    def has_kecamatan(self, code: str) -> bool:
        return len(code) == 6 and self.expected_kecamatan(code) > 0

    @cached_property
    def _desa_sorted(self) -> tuple[str, ...]:
        return tuple(sorted(self.tps))

    def _desa_under(self, prefix: str) -> list[str]:
        # Codes are digits, so every code starting with ``prefix`` sorts between it and prefix + "~".
        ds = self._desa_sorted
        return list(ds[bisect_left(ds, prefix):bisect_left(ds, prefix + "~")])

    @cached_property
    def _counts(self) -> tuple[dict[str, int], dict[str, int]]:
        tps: dict[str, int] = {}
        kec: dict[str, int] = {}
        for d, counts in self.tps.items():
            n = counts[0] + (counts[2] - counts[1] + 1 if len(counts) == 3 else 0)
            for p in ("", d[:2], d[:4], d[:6], d):
                tps[p] = tps.get(p, 0) + n
        for k in {d[:6] for d in self.tps}:
            for p in ("", k[:2], k[:4], k):
                kec[p] = kec.get(p, 0) + 1
        return tps, kec


# What every function taking a register accepts (normalised by ``load_register``).
RegisterSource = Register | Path | str | dict | None


def _parse(data: object, where: str, sha256: str | None = None, source: str | None = None,
           path: str | None = None) -> Register:
    if not isinstance(data, dict) or not isinstance(data.get("tps"), dict) \
            or not isinstance(data.get("id2name"), dict):
        raise ValueError(f"{where}: not a TPS register (needs 'id2name' and 'tps' objects)")
    bad = [d for d, c in data["tps"].items()
           if len(d) != 10 or not isinstance(c, list) or len(c) not in (1, 3)]
    if bad:
        raise ValueError(f"{where}: bad 'tps' entries (10-digit desa -> [n] or [n, first, last]): {bad[:3]}")
    return Register(id2name=dict(data["id2name"]), tps=dict(data["tps"]), sha256=sha256, source=source,
                    path=path)


def _from_bytes(raw: bytes, where: str, source: str, path: str | None = None) -> Register:
    return _parse(json.loads(raw), where, hashlib.sha256(raw).hexdigest(), source, path)


def load_register(source: RegisterSource) -> Register | None:
    """A register from a file path, an already parsed ``{"id2name", "tps"}`` dict, a Register
    (returned as is), or None (no register: None). Raises ``RegisterUnusable`` (a ValueError) on a
    file that cannot be read or is not a register, naming the file and why."""
    try:
        return _load_register(source)
    except RegisterUnusable:
        raise
    except OSError as exc:
        raise RegisterUnusable(str(source), f"cannot read it ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise RegisterUnusable(str(source), f"not UTF-8 JSON ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise RegisterUnusable(str(source), f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    except ValueError as exc:
        if isinstance(source, dict):
            raise
        raise RegisterUnusable(str(source), str(exc).removeprefix(f"{source}: ")) from exc


def _load_register(source: RegisterSource) -> Register | None:
    if source is None or isinstance(source, Register):
        return source
    if isinstance(source, dict):
        return _parse(source, "register")
    path = Path(source)
    return _from_bytes(path.read_bytes(), str(path), path.name, str(path.resolve()))


@cache
def mini_register() -> Register:
    """The small register packaged with pindai (``schemas/data/register-mini.json``)."""
    res = resources.files("schemas").joinpath("data", MINI_REGISTER)
    path = str(res) if isinstance(res, Path) else None  # a zipped install has no file to copy
    return _from_bytes(res.read_bytes(), MINI_REGISTER, MINI_REGISTER, path)

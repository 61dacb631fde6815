"""Derive ``schemas/data/register-mini.json`` from the shared KPU 2024 register.

A fresh clone without ``../shared`` needs real TPS codes (the generator, tests). This keeps, for every
province, two kab/kota (the first kabupaten and the first kota when both exist) and for each of
those one or two kecamatan with *all* their desa, so D.Hasil recaps can be built over complete
kecamatan. Output has the same format as ``kpu2024-wilayah-tps.json`` (``id2name``, ``tps``).

Usage: python scripts/make_mini_register.py [SHARED_REGISTER] [OUT]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from schemas.register import Register, load_register

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SRC = REPO.parent / "shared" / "reference" / "kpu2024-wilayah-tps.json"
DEFAULT_OUT = REPO / "schemas" / "data" / "register-mini.json"
MAX_DESA_PER_KEC = 30  # the D.Hasil look-alike has 30 desa rows


def derive(reg: Register) -> dict:
    keep_desa: list[str] = []
    for prov in sorted({d[:2] for d in reg.tps}):
        kabs = sorted({k[:4] for k in reg.kecamatan_codes(prov)})
        kabupaten = [k for k in kabs if int(k[2:]) < 70]
        kota = [k for k in kabs if int(k[2:]) >= 70]
        chosen = (kabupaten[:1] + kota[:1]) or kabs[:2]
        if len(chosen) < 2:
            chosen = kabs[:2]
        for kab in chosen:
            # Kecamatan that fit on one D.Hasil attachment; fall back to the smallest ones.
            kecs = sorted(reg.kecamatan_codes(kab),
                          key=lambda k: (len(reg.desa_of_kecamatan(k)) > MAX_DESA_PER_KEC, k))
            for kec in kecs[:2]:
                keep_desa.extend(reg.desa_of_kecamatan(kec))

    codes = set()
    for d in keep_desa:
        codes.update({d[:2], d[:4], d[:6], d})
    return {
        "id2name": {c: reg.id2name[c] for c in sorted(codes) if c in reg.id2name},
        "tps": {d: reg.tps[d] for d in keep_desa},
    }


def main(argv: list[str]) -> None:
    src = Path(argv[1]) if len(argv) > 1 else DEFAULT_SRC
    out = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT
    mini = derive(load_register(src))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(mini, ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n", "utf-8")
    print(f"{out}: {len(mini['tps'])} desa, {out.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main(sys.argv)

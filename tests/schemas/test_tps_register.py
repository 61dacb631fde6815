"""The one TPS register: loading from every source, codes, counts, and the packaged mini register."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from schemas.register import Register, load_register, mini_register

SHARED_REGISTER = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / \
    "kpu2024-wilayah-tps.json"

DATA = {
    "id2name": {"32": "JAWA BARAT", "3273": "KOTA BANDUNG", "327301": "SUKASARI", "3273010001": "SARIJADI"},
    # 2 regular + special 901-902; 3 regular; another kecamatan and kab/kota with 1
    "tps": {"3273010001": [2, 901, 902], "3273010002": [3], "3204010001": [1]},
}


def test_load_from_path_dict_register_and_none(tmp_path: Path) -> None:
    path = tmp_path / "reg.json"
    path.write_text(json.dumps(DATA), "utf-8")
    from_path = load_register(path)
    assert from_path is not None and from_path.source == "reg.json"
    assert from_path.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_register(str(path)).tps == DATA["tps"]  # type: ignore[union-attr]
    from_dict = load_register(DATA)
    assert from_dict is not None and from_dict.sha256 is None and from_dict.tps == from_path.tps
    assert load_register(from_dict) is from_dict and load_register(None) is None


@pytest.mark.parametrize("bad", [{"tps": {}}, {"id2name": {}, "tps": []},
                                 {"id2name": {}, "tps": {"3273010001": [2, 901]}},
                                 {"id2name": {}, "tps": {"327301": [2]}}])
def test_another_format_is_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        load_register(bad)


def test_codes_counts_and_names() -> None:
    reg = load_register(DATA)
    assert isinstance(reg, Register)
    assert reg.tps_codes("3273010001") == ["3273010001001", "3273010001002", "3273010001901", "3273010001902"]
    assert reg.tps_codes("327301")[-1] == "3273010002003" and len(reg.tps_codes()) == 8
    assert reg.tps_codes("3273010009") == [] and reg.tps_numbers("3273010009") == []
    prefixes = ("", "32", "3273", "327301", "3273010001", "11")
    assert [reg.expected_tps(p) for p in prefixes] == [8, 8, 7, 7, 4, 0]
    assert [reg.expected_kecamatan(p) for p in ("", "32", "3273", "327301")] == [2, 2, 1, 1]
    assert reg.desa_of_kecamatan("327301") == ["3273010001", "3273010002"]
    assert reg.desa_of_kecamatan("32") == []  # a kecamatan code only
    assert reg.kecamatan_codes() == ["320401", "327301"] and reg.kecamatan_codes("3273") == ["327301"]
    assert reg.has_tps("3273010001902") and not reg.has_tps("3273010001903")
    assert reg.has_kecamatan("320401") and not reg.has_kecamatan("320402") and not reg.has_kecamatan("32")
    assert reg.name("3273") == "KOTA BANDUNG" and reg.name("3204") is None and reg.name(None) is None


def test_packaged_mini_register() -> None:
    reg = mini_register()
    assert reg is mini_register() and reg.source == "register-mini.json" and reg.sha256
    provinces = {d[:2] for d in reg.tps}
    assert len(provinces) >= 34
    for prov in provinces:
        assert reg.name(prov) and reg.kecamatan_codes(prov)
    kec = reg.kecamatan_codes("32")[0]
    assert reg.expected_tps(kec) == len(reg.tps_codes(kec)) > 0


def test_full_register_if_shared_is_present() -> None:
    if not SHARED_REGISTER.exists():
        pytest.skip(f"{SHARED_REGISTER} not available (../shared is absent)")
    reg = load_register(SHARED_REGISTER)
    assert reg is not None and reg.expected_tps("") > 800_000
    kec = reg.kecamatan_codes("32")[0]
    assert reg.expected_tps(kec) == len(reg.tps_codes(kec))

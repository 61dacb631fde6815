"""What libpng, libjpeg and libtiff say about a damaged file goes into that file's detail, never onto
the operator's terminal (issue 25: `make fuzz` printed hundreds of such lines)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CHATTER = ("libpng", "Corrupt JPEG", "TIFF_Error")


def _png(page: Path) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.imread(str(page), cv2.IMREAD_GRAYSCALE))
    assert ok
    return buf.tobytes()


def _jpeg(page: Path) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.imread(str(page), cv2.IMREAD_GRAYSCALE))
    assert ok
    return buf.tobytes()


def _lzw_tiff(page: Path) -> bytes:
    out = io.BytesIO()
    Image.fromarray(cv2.imread(str(page), cv2.IMREAD_GRAYSCALE)).save(out, format="TIFF", compression="tiff_lzw")
    return out.getvalue()


def test_decoder_warnings_go_into_the_detail_not_the_terminal(scans, tmp_path: Path) -> None:
    a, b, _ = scans.codes
    d = tmp_path / "in"
    d.mkdir()
    png = _png(scans.page(0, 1))
    (d / f"{a}_ppwp_p1.png").write_bytes(png[: len(png) // 2])  # truncated: libpng error, rejected
    jpg = bytearray(_jpeg(scans.page(0, 2)))
    mid = len(jpg) // 2
    jpg[mid: mid + 4000] = b"\x00" * 4000  # damaged entropy data: libjpeg warns and decodes
    (d / f"{a}_ppwp_p2.jpg").write_bytes(bytes(jpg))
    tif = bytearray(_lzw_tiff(scans.page(1, 1)))
    tif[1000:1064] = b"\xff" * 64  # a broken LZW strip: libtiff complains through OpenCV
    (d / f"{b}_ppwp_p1.tif").write_bytes(bytes(tif))

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-m", "flows.cli", "run", str(d), "--out", str(tmp_path / "r"),
                          "--workers", "1", "--no-prefect"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    for word in CHATTER:
        assert word not in res.stderr and word not in res.stdout, res.stderr[-2000:]
    files = {f["file"]: f for f in json.loads((tmp_path / "r" / "latest" / "run.json").read_text())["files"]}
    trunc = files[f"{a}_ppwp_p1.png"]
    assert trunc["status"] == "rejected" and trunc["reasons"] == ["corrupt_image"]
    assert "decoder: libpng error" in trunc["detail"], trunc
    assert "decoder: Corrupt JPEG data" in files[f"{a}_ppwp_p2.jpg"]["detail"], files[f"{a}_ppwp_p2.jpg"]
    assert "TIFF_Error" in files[f"{b}_ppwp_p1.tif"]["detail"], files[f"{b}_ppwp_p1.tif"]
    for f in files.values():
        assert "\n" not in f["detail"] and len(f["detail"]) <= 400


def test_quiet_restores_the_terminal(capfd) -> None:
    from extract.decode import quiet

    with quiet() as said:
        os.write(2, b"libpng warning: iCCP: known incorrect sRGB profile\n")
        cv2.imdecode(np.frombuffer(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, np.uint8), cv2.IMREAD_GRAYSCALE)
    os.write(2, b"after\n")
    assert said[0] == "libpng warning: iCCP: known incorrect sRGB profile"
    assert capfd.readouterr().err == "after\n"

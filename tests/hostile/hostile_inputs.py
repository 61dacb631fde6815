"""Builders of hostile inputs, made in the tests (no fixtures committed).

PDFs are written by hand (a few objects and an xref table) so the tests need no PDF library:
image pages, blank pages of any size, hundreds of pages sharing one content stream, and the
PDF standard security handler (revision 2, RC4 40-bit) for encrypted files with or without a
user password. Image bombs are real files whose headers claim a huge size: a PNG of zeros
deflated to a few kB, a JPEG whose frame header is patched, a TIFF with a huge second page.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

# --------------------------------------------------------------------------- hand-made PDFs

_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")
_PERMS = -44  # changing and annotating not allowed


def rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out = bytearray(len(data))
    i = j = 0
    for n, byte in enumerate(data):
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out[n] = byte ^ s[(s[i] + s[j]) % 256]
    return bytes(out)


class _Security:
    """Standard security handler, revision 2 (PDF 1.7 spec, algorithms 2-4)."""

    def __init__(self, user_pw: str, owner_pw: str, doc_id: bytes) -> None:
        u_pad = (user_pw.encode("latin-1") + _PAD)[:32]
        o_pad = ((owner_pw or user_pw).encode("latin-1") + _PAD)[:32]
        self.o = rc4(hashlib.md5(o_pad).digest()[:5], u_pad)
        self.key = hashlib.md5(u_pad + self.o + struct.pack("<i", _PERMS) + doc_id).digest()[:5]
        self.u = rc4(self.key, _PAD)
        self.doc_id = doc_id

    def encrypt(self, num: int, data: bytes) -> bytes:
        k = hashlib.md5(self.key + struct.pack("<I", num)[:3] + b"\x00\x00").digest()[:10]
        return rc4(k, data)

    def dict(self) -> bytes:
        return (b"<< /Filter /Standard /V 1 /R 2 /O <" + self.o.hex().encode() + b"> /U <"
                + self.u.hex().encode() + b"> /P " + str(_PERMS).encode() + b" >>")


def _pdf(objects: list[tuple[bytes, bytes | None]], security: _Security | None = None) -> bytes:
    """``objects[i]`` is object ``i + 1``: (dictionary or value, stream data or None). Object 1 is
    the catalog. Streams are encrypted with ``security`` when given."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for num, (head, stream) in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{num} 0 obj\n".encode())
        if stream is None:
            out.write(head)
        else:
            data = security.encrypt(num, stream) if security else stream
            out.write(head.rstrip()[:-2] + b" /Length " + str(len(data)).encode() + b" >>\nstream\n")
            out.write(data + b"\nendstream")
        out.write(b"\nendobj\n")
    n = len(objects) + 1
    enc_ref = b""
    if security is not None:
        offsets.append(out.tell())
        out.write(f"{n} 0 obj\n".encode() + security.dict() + b"\nendobj\n")
        enc_ref = f" /Encrypt {n} 0 R".encode()
        n += 1
    xref = out.tell()
    out.write(f"xref\n0 {n}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    doc_id = security.doc_id if security else b"pindai-hostile-00"
    out.write(f"trailer\n<< /Size {n} /Root 1 0 R".encode() + enc_ref + b" /ID [<" + doc_id.hex().encode()
              + b"> <" + doc_id.hex().encode() + b">] >>\n")
    out.write(f"startxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _pages_pdf(page_objs: list[tuple[bytes, bytes | None]], n_pages: int, media: list[tuple[float, float]],
               contents: list[int | None], resources: list[bytes], security: _Security | None = None,
               rotate: list[int] | None = None) -> bytes:
    """Catalog (1), Pages (2), then ``n_pages`` page objects, then ``page_objs`` (numbered after)."""
    first_extra = 3 + n_pages
    kids = b" ".join(f"{3 + i} 0 R".encode() for i in range(n_pages))
    objs: list[tuple[bytes, bytes | None]] = [
        (b"<< /Type /Catalog /Pages 2 0 R >>", None),
        (b"<< /Type /Pages /Kids [" + kids + b"] /Count " + str(n_pages).encode() + b" >>", None),
    ]
    for i in range(n_pages):
        w, h = media[i]
        c = contents[i]
        page = f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w:g} {h:g}]".encode()
        if rotate and rotate[i]:
            page += f" /Rotate {rotate[i]}".encode()
        if c is not None:
            page += f" /Contents {first_extra + c} 0 R".encode()
        page += b" /Resources " + resources[i] + b" >>"
        objs.append((page, None))
    return _pdf(objs + page_objs, security)


def image_pdf(jpegs: list[tuple[bytes, int, int]], dpi: float = 150.0, user_pw: str | None = None,
              owner_pw: str | None = None) -> bytes:
    """One page per JPEG (``(bytes, width px, height px)``), sized so the image fills it at ``dpi``.
    With ``owner_pw`` or ``user_pw`` the PDF is encrypted (RC4); only ``user_pw`` asks a reader
    for a password (like the official templates, an owner password alone only restricts copying)."""
    extra: list[tuple[bytes, bytes | None]] = []
    media, contents, res = [], [], []
    for i, (data, w, h) in enumerate(jpegs):
        wp, hp = w * 72 / dpi, h * 72 / dpi
        img_num = len(extra)  # index in ``extra``
        extra.append((f"<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceGray "
                      f"/BitsPerComponent 8 /Filter /DCTDecode >>".encode(), data))
        extra.append((b"<< >>", f"q {wp:.3f} 0 0 {hp:.3f} 0 0 cm /Im{i} Do Q".encode()))
        media.append((wp, hp))
        contents.append(img_num + 1)
        res.append(f"<< /XObject << /Im{i} {{IMG{i}}} >> >>".encode())
    n = len(jpegs)
    res = [r.replace(f"{{IMG{i}}}".encode(), f"{3 + n + 2 * i} 0 R".encode()) for i, r in enumerate(res)]
    security = None
    if user_pw is not None or owner_pw is not None:
        security = _Security(user_pw or "", owner_pw or "", hashlib.md5(b"pindai").digest())
    return _pages_pdf(extra, n, media, contents, res, security)


def blank_pdf(sizes_pt: list[tuple[float, float]], rotate: list[int] | None = None) -> bytes:
    """Pages of the given sizes (MediaBox, before ``/Rotate``) with a small black square."""
    n = len(sizes_pt)
    extra = [(b"<< >>", b"0 g 10 10 20 20 re f")]
    return _pages_pdf(extra, n, sizes_pt, [0] * n, [b"<< >>"] * n, rotate=rotate)


def many_pages_pdf(n: int, size_pt: tuple[float, float] = (595, 842)) -> bytes:
    """``n`` A4 pages sharing one tiny content stream: a few kB per hundred pages."""
    return blank_pdf([size_pt] * n)


def pdf_of_images(paths: list[Path], dpi: float = 150.0) -> bytes:
    """A PDF whose pages are these image files (re-encoded as grayscale JPEG)."""
    pages = []
    for p in paths:
        gray = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        ok, buf = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        pages.append((buf.tobytes(), gray.shape[1], gray.shape[0]))
    return image_pdf(pages, dpi=dpi)


# --------------------------------------------------------------------------- image bombs

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def zeros_png(width: int, height: int) -> bytes:
    """A real, complete 1-bit PNG of ``width x height`` black pixels: kB on disk, ``width*height``
    pixels decoded (the decompression bomb). Built row by row, never holding the image."""
    row = b"\x00" * (1 + (width + 7) // 8)
    comp = zlib.compressobj(9)
    idat = bytearray()
    for _ in range(height):
        idat += comp.compress(row)
    idat += comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", bytes(idat))
            + _png_chunk(b"IEND", b""))


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small valid JPEG whose frame header (SOF0) is patched to claim ``width x height``."""
    ok, buf = cv2.imencode(".jpg", np.full((16, 16), 255, np.uint8))
    assert ok
    data = bytearray(buf.tobytes())
    i = data.index(b"\xff\xc0")
    data[i + 5: i + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def tiff_pages(shapes: list[tuple[int, int]]) -> bytes:
    """A multi-page TIFF (deflate) of white pages of the given (height, width) shapes."""
    from PIL import Image

    ims = [Image.new("1", (w, h), 1) for h, w in shapes]
    buf = io.BytesIO()
    ims[0].save(buf, "TIFF", save_all=True, append_images=ims[1:], compression="tiff_adobe_deflate")
    return buf.getvalue()


# --------------------------------------------------------------------------- pictures that are not forms

def scene_photo(seed: int = 0, shape: tuple[int, int] = (1200, 1600)) -> bytes:
    """A 'photo' of no form: shaded background, random shapes and sensor noise (JPEG)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    img = (90 + 80 * np.sin(xx / 170.0) * np.cos(yy / 230.0)).astype(np.float32)
    img = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_GRAY2BGR)
    for _ in range(40):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        kind = rng.integers(0, 3)
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if kind == 0:
            cv2.circle(img, (x, y), int(rng.integers(10, 200)), colour, -1)
        elif kind == 1:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(10, 300)), y + int(rng.integers(10, 300))), colour, -1)
        else:
            cv2.line(img, (x, y), (int(rng.integers(0, w)), int(rng.integers(0, h))), colour,
                     int(rng.integers(1, 12)))
    noisy = img.astype(np.int16) + rng.normal(0, 12, img.shape).astype(np.int16)
    ok, buf = cv2.imencode(".jpg", np.clip(noisy, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return buf.tobytes()


def blank_scan(shape: tuple[int, int] = (2339, 1654), seed: int = 0) -> bytes:
    """An A4 page at 200 dpi with nothing on it but scanner noise (JPEG)."""
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(246, 3, shape), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return buf.tobytes()


def rotated_180(path: Path) -> bytes:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    ok, buf = cv2.imencode(Path(path).suffix, cv2.rotate(img, cv2.ROTATE_180))
    assert ok
    return buf.tobytes()

"""Find the input files of a batch and tell which form each one claims to be.

Input contract (README): a folder, searched recursively, of .pdf .jpg .jpeg .png .tif .tiff .webp.
Identity comes from an optional ``manifest.csv`` in the folder (columns ``file,tps_code,form_type[,page]``),
else from the file name ``<13-digit TPS code>_<form>[_p<page>].<ext>`` (D.Hasil: 6-digit kecamatan code).
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from schemas.layout import FormType
from schemas.records import FileIdentity, InputFile
from schemas.settings import SUPPORTED_EXTENSIONS

MANIFEST_NAME = "manifest.csv"
_NAME_RE = re.compile(
    r"^(?P<code>\d{13}|\d{6})_(?P<form>ppwp-salinan|ppwp|dpr|dhasil-ppwp)(?:_p(?P<page>\d{1,2}))?$",
    re.IGNORECASE,
)


class ManifestError(ValueError):
    """manifest.csv is present but cannot be used; the message says which line and why."""


@dataclass
class Discovery:
    files: list[Path] = field(default_factory=list)  # supported files, sorted, relative to root
    ignored: list[Path] = field(default_factory=list)  # other files (truth.jsonl, notes, ...)
    skipped_links: list[Path] = field(default_factory=list)  # directory symlinks (loops)


def discover(root: Path) -> Discovery:
    """Every supported file below ``root``, in a stable order.

    Directory symlinks are not followed (a link loop must not hang or duplicate the batch);
    they are reported so nothing disappears silently.
    """
    out = Discovery()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        d = Path(dirpath)
        for name in list(dirnames):
            if (d / name).is_symlink():
                out.skipped_links.append((d / name).relative_to(root))
                dirnames.remove(name)
        dirnames.sort()
        for name in sorted(filenames):
            rel = (d / name).relative_to(root)
            if name.startswith(".") or name == MANIFEST_NAME:
                continue
            if Path(name).suffix.lower() in SUPPORTED_EXTENSIONS:
                out.files.append(rel)
            else:
                out.ignored.append(rel)
    out.files.sort(key=lambda p: p.as_posix())
    return out


def identity_from_name(rel: Path) -> FileIdentity | None:
    m = _NAME_RE.match(Path(rel).stem)
    if not m:
        return None
    form = FormType(m.group("form").lower())
    code = m.group("code")
    # D.Hasil is a kecamatan recap (6 digits); C.Hasil forms belong to one TPS (13 digits).
    if (form is FormType.DHASIL_PPWP) != (len(code) == 6):
        return None
    page = int(m.group("page")) if m.group("page") else None
    return FileIdentity(region_code=code, form_type=form, page=page, source="name")


def read_manifest(root: Path) -> dict[str, FileIdentity]:
    """Parse ``root/manifest.csv``; keys are file paths relative to ``root`` (POSIX)."""
    path = root / MANIFEST_NAME
    if not path.exists():
        return {}
    out: dict[str, FileIdentity] = {}
    try:
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{MANIFEST_NAME}: cannot read it ({exc})") from exc
    reader = csv.DictReader(text.splitlines())
    cols = {c.strip().lower() for c in (reader.fieldnames or [])}
    if not {"file", "tps_code", "form_type"} <= cols:
        raise ManifestError(f"{MANIFEST_NAME}: needs the columns file,tps_code,form_type[,page]; "
                            f"found {sorted(cols)}")
    for lineno, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        try:
            form = FormType(row["form_type"].lower())
        except ValueError as exc:
            raise ManifestError(f"{MANIFEST_NAME} line {lineno}: unknown form_type "
                                f"{row['form_type']!r} (one of {', '.join(f.value for f in FormType)})") from exc
        code = row["tps_code"]
        want = 6 if form is FormType.DHASIL_PPWP else 13
        if not (code.isdigit() and len(code) == want):
            raise ManifestError(f"{MANIFEST_NAME} line {lineno}: code {code!r} must be {want} digits "
                                f"for {form.value}")
        page_text = row.get("page", "")
        if page_text and not page_text.isdigit():
            raise ManifestError(f"{MANIFEST_NAME} line {lineno}: page {page_text!r} is not a number")
        if not row["file"]:
            raise ManifestError(f"{MANIFEST_NAME} line {lineno}: empty file name")
        out[Path(row["file"]).as_posix()] = FileIdentity(
            region_code=code, form_type=form, page=int(page_text) if page_text else None, source="manifest")
    return out


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def describe(root: Path, rel: Path, manifest: dict[str, FileIdentity]) -> InputFile:
    """Size, checksum and identity of one file. Raises OSError when it cannot be read."""
    path = root / rel
    size = path.stat().st_size
    digest = sha256_file(path)
    ident = manifest.get(rel.as_posix()) or identity_from_name(rel)
    return InputFile(path=str(path), rel_path=rel.as_posix(), size=size, sha256=digest, identity=ident)

"""Find the input files of a batch and tell which form each one claims to be.

Input contract (README): a folder, searched recursively, of .pdf .jpg .jpeg .png .tif .tiff .webp.
Identity comes from an optional ``manifest.csv`` in the folder (columns ``file,tps_code,form_type[,page]``),
else from the file name ``<13-digit TPS code>_<form>[_p<page>].<ext>`` (D.Hasil: 6-digit kecamatan code).
"""

from __future__ import annotations

import csv
import errno
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from schemas.layout import FormType
from schemas.records import FileIdentity, InputFile
from schemas.settings import SUPPORTED_EXTENSIONS

MANIFEST_NAME = "manifest.csv"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024  # ~1M rows: far more than one batch holds
_NAME_RE = re.compile(
    r"^(?P<code>\d{13}|\d{6})_(?P<form>ppwp-salinan|ppwp|dpr|dhasil-ppwp)(?:_p(?P<page>\d{1,2}))?$",
    re.IGNORECASE | re.ASCII,  # ASCII: "\d" would also take Arabic-Indic or full-width digits
)
_DIGITS = re.compile(r"[0-9]+")


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
    if not path.exists() and not path.is_symlink():
        return {}
    out: dict[str, FileIdentity] = {}
    try:
        size = file_size(path)  # a FIFO or /dev/zero named manifest.csv must not hang the batch
        if size > MAX_MANIFEST_BYTES:
            raise ManifestError(f"{MANIFEST_NAME}: {size:,} bytes, more than a manifest can be "
                                f"({MAX_MANIFEST_BYTES:,})")
        text = path.read_text("utf-8-sig")
    except OSError as exc:
        raise ManifestError(f"{MANIFEST_NAME}: cannot read it ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{MANIFEST_NAME}: cannot read it (not UTF-8 text: {exc.reason} at byte "
                            f"{exc.start})") from exc
    reader = csv.DictReader(text.splitlines())
    cols = {c.strip().lower() for c in (reader.fieldnames or [])}
    if not {"file", "tps_code", "form_type"} <= cols:
        raise ManifestError(f"{MANIFEST_NAME}: needs the columns file,tps_code,form_type[,page]; "
                            f"found {sorted(cols)}")
    rows = enumerate(reader, start=2)
    while True:
        try:
            lineno, raw = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a field over the csv module's size limit
            raise ManifestError(f"{MANIFEST_NAME}: not a readable CSV ({exc})") from exc
        if None in raw:  # DictReader keeps surplus values under the key None
            raise ManifestError(f"{MANIFEST_NAME} line {lineno}: more values than columns")
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items()}
        try:
            form = FormType(row["form_type"].lower())
        except ValueError as exc:
            raise ManifestError(f"{MANIFEST_NAME} line {lineno}: unknown form_type "
                                f"{row['form_type']!r} (one of {', '.join(f.value for f in FormType)})") from exc
        code = row["tps_code"]
        want = 6 if form is FormType.DHASIL_PPWP else 13
        if not (_DIGITS.fullmatch(code) and len(code) == want):
            raise ManifestError(f"{MANIFEST_NAME} line {lineno}: code {code!r} must be {want} digits "
                                f"for {form.value}")
        page_text = row.get("page", "")
        if page_text and not (_DIGITS.fullmatch(page_text) and len(page_text) <= 2):
            raise ManifestError(f"{MANIFEST_NAME} line {lineno}: page {page_text!r} is not a number")
        if not row["file"]:
            raise ManifestError(f"{MANIFEST_NAME} line {lineno}: empty file name")
        out[Path(row["file"]).as_posix()] = FileIdentity(
            region_code=code, form_type=form, page=int(page_text) if page_text else None, source="manifest")
    return out


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Checksum of a regular file; raises OSError for anything else (checked on the open descriptor,
    opened without blocking: a FIFO swapped in after ``file_size`` looked cannot hang the plan)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        _check_regular(os.fstat(fd))
        h = hashlib.sha256()
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


_KINDS = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}


def file_size(path: Path) -> int:
    """Size of a regular file (symlinks followed). Raises OSError for anything else: reading a FIFO
    would block forever and ``/dev/zero`` never ends, so they are refused without being opened."""
    st = path.stat()  # a broken link raises ENOENT, a link loop ELOOP
    _check_regular(st)
    return st.st_size


def _check_regular(st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise OSError(errno.EINVAL, f"not a regular file: {kind}")


def display_name(rel: Path) -> str | None:
    """``rel`` as UTF-8 text, or None when the name is not valid UTF-8 (it could then never be
    matched by the manifest nor written to the release as text)."""
    name = Path(rel).as_posix()
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return name


def describe(root: Path, rel: Path, manifest: dict[str, FileIdentity]) -> InputFile:
    """Size, checksum and identity of one file. Raises OSError when it cannot be read."""
    path = root / rel
    size = file_size(path)
    digest = sha256_file(path)
    ident = manifest.get(rel.as_posix()) or identity_from_name(rel)
    return InputFile(path=str(path), rel_path=rel.as_posix(), size=size, sha256=digest, identity=ident)

"""Downloads into the cache: atomic, checksummed. Where no sha256 is pinned
(the official PaddleOCR archives publish none), the first download's digest
is recorded in <cache>/downloads/SHA256SUMS and every later copy must match
it (trust on first use), and the caller says so."""
from __future__ import annotations

import hashlib
import shutil
import tarfile
import urllib.request
from pathlib import Path

from . import paths
from .atomic import atomic_path, write_bytes
from .errors import LiteError


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _ledger() -> Path:
    return paths.home() / "downloads" / "SHA256SUMS"


def recorded_sha256(url: str) -> str | None:
    f = _ledger()
    if not f.is_file():
        return None
    for line in f.read_text().splitlines():
        digest, _, u = line.partition("  ")
        if u == url:
            return digest
    return None


def download(url: str, dest: Path, sha256: str | None = None, hint: str = "check the network") -> str:
    """Fetch `url` to `dest` (atomically); returns its sha256."""
    expected = sha256 or recorded_sha256(url)
    with atomic_path(dest) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as f:
                shutil.copyfileobj(r, f)
        except OSError as e:
            raise LiteError(f"download of {url} failed ({e}); {hint}") from None
        got = sha256_file(tmp)
        if expected and got != expected:
            raise LiteError(f"{url}: sha256 {got} does not match the expected {expected}; the download was discarded")
    if not expected:
        ledger = _ledger()
        old = ledger.read_text() if ledger.is_file() else ""
        write_bytes(ledger, (old + f"{got}  {url}\n").encode())
    return got


def _escapes(name: str) -> bool:
    p = Path(name)
    return p.is_absolute() or ".." in p.parts


def extract_tar(archive: Path, dest: Path, only: tuple[str, ...] | None = None) -> list[Path]:
    """Unpack into `dest`, flattening the archive's single top folder; with
    `only`, just the members under those folders (paths after the top one,
    e.g. "cxx/lib/"). A member, or a link's target, that would land outside
    its folder makes the whole archive refused, before anything is written.
    Links inside the archive are written as copies of what they point to."""
    try:
        t = tarfile.open(archive)
    except (tarfile.TarError, OSError) as e:
        raise LiteError(f"{archive}: not a readable tar archive ({e}); the download is damaged, delete it and "
                        "fetch again") from None
    written = []
    with t:
        members = t.getmembers()
        for m in members:
            bad = _escapes(m.name) or ((m.issym() or m.islnk()) and (
                _escapes(m.linkname) if m.islnk() else
                Path(m.linkname).is_absolute() or _escapes(str(Path(m.name).parent / m.linkname))))
            if bad:
                raise LiteError(f"{archive}: member {m.name!r} points outside the archive; refused")
        for m in members:
            if not (m.isfile() or m.issym() or m.islnk()):
                continue
            rel = Path(*Path(m.name).parts[1:]) if len(Path(m.name).parts) > 1 else Path(m.name)
            if only and not any(str(rel).startswith(o) for o in only):
                continue
            try:
                src = t.extractfile(m)  # follows links within the archive
            except KeyError:
                src = None
            if src is None:
                raise LiteError(f"{archive}: link {m.name!r} points to nothing in the archive; refused")
            out = dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            with src, open(out, "wb") as f:
                shutil.copyfileobj(src, f)
            written.append(out)
    return written

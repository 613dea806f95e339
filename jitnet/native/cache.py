"""The on-disk compiled-code cache: key -> object code bytes (SPEC §4).

Entries live in a per-user cache folder (`JITNET_CACHE_DIR` overrides it),
one file per key. Each file carries a checksum of its payload, so a truncated
or corrupt entry is detected, reported with a warning and recompiled, never
loaded. Writes go to a temporary file renamed into place, so processes that
write the same entry at once each leave a whole file behind.
"""

import hashlib
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Optional

_MAGIC = b"jitnet-object-1\n"
_DIGEST = 32


def cache_dir() -> Path:
    """`JITNET_CACHE_DIR`, else the platform's usual per-user cache folder + `jitnet`."""
    override = os.environ.get("JITNET_CACHE_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "jitnet"


def cache_key(*parts: str) -> str:
    """A file-name-safe digest of everything that changes the machine code."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def load(key: str) -> Optional[bytes]:
    """The cached object code for `key`, or None when absent or corrupt (with a warning)."""
    path = cache_dir() / f"{key}.o"
    try:
        data = path.read_bytes()
    except OSError:
        return None
    header = len(_MAGIC) + _DIGEST
    payload = data[header:]
    if (len(data) < header or not data.startswith(_MAGIC)
            or hashlib.sha256(payload).digest() != data[len(_MAGIC):header]):
        warnings.warn(f"jitnet: corrupt cache entry {path} ignored; recompiling", RuntimeWarning,
                      stacklevel=3)
        return None
    return payload


def store(key: str, payload: bytes) -> None:
    """Write an entry atomically; a cache that cannot be written is skipped silently."""
    folder = cache_dir()
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + hashlib.sha256(payload).digest() + payload)
        os.replace(tmp, folder / f"{key}.o")
    except OSError:
        # NOTE: a read-only or full disk only costs the next process a recompile.
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)

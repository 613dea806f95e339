"""Output files written all at once: a crash or a full disk never leaves half a file behind."""

import os
import tempfile
from typing import Union


def write_atomically(path: Union[str, os.PathLike], data: Union[str, bytes]) -> None:
    """Write `data` (text as UTF-8 with "\\n" line ends, or bytes) to `path`: a temporary file in the
    same folder, renamed over `path` once complete, with the permissions a plain write would give."""
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(temporary, 0o666 & ~umask)  # NOTE: mkstemp's 0600 would make the output private
        with os.fdopen(handle, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise

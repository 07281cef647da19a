"""Writing a run's files so that an interruption never leaves a torn one: a temporary file renamed into place, the
leftovers of killed writers cleaned up, and OS errors turned into messages that say what to do.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

from reactivation import ReactivationError
from reactivation.processes import deferred_interrupts


def host_tag() -> str:
    """This host's name as temporary-file names carry it (``_`` for dots and dashes)."""
    # Dots and dashes would make the temporary-file names ambiguous to parse.
    return socket.gethostname().replace(".", "_").replace("-", "_") or "localhost"


@functools.cache
def file_mode() -> int:
    # mkstemp creates 0600 files; a finished file should be as readable as any the user creates (umask),
    # so that a lab's shared results directory stays readable to colleagues.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _temporary_prefix(path: Path) -> str:
    """``.<name>.<host>-<pid>.``: whose temporary file it is, so that leftovers of dead writers can be told apart."""
    return f".{path.name}.{host_tag()}-{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_temporaries(directory: Path, every: bool = False, target: str | None = None) -> list[Path]:
    """Delete temporary files left in ``directory`` by writers that were killed mid-write (SIGKILL, power loss).

    Args:
        directory: the folder to clean (not recursive).
        every: delete every temporary file (the caller holds the run's lock, so nobody else is writing);
            otherwise only those of dead processes of this host.
        target: only the temporary files of this file name.

    Returns:
        The deleted files.
    """
    removed = []
    pattern = f".{target}.*.tmp" if target else ".*.tmp"
    for tmp in Path(directory).glob(pattern):
        owner = tmp.name[: -len(".tmp")].rsplit(".", 2)
        host, _, pid = owner[1].rpartition("-") if len(owner) == 3 else ("", "", "")
        stale = every or (host == host_tag() and pid.isdigit() and not _pid_alive(int(pid)))
        if stale and tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def atomic(path: Path, write) -> None:
    """Write ``path`` through ``write(file)`` into a temporary file, then rename it into place.

    Ctrl-C and SIGTERM are held until the file is complete (processes.deferred_interrupts). An OS error
    (full disk, read-only or missing folder) becomes a ReactivationError naming the file; the previous
    version of the file, if any, is left as it was.
    """
    path = Path(path)
    tmp = None
    try:
        with deferred_interrupts():
            path.parent.mkdir(parents=True, exist_ok=True)
            clean_temporaries(path.parent, target=path.name)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temporary_prefix(path), suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                if hasattr(os, "fchmod"):
                    os.fchmod(f.fileno(), file_mode())
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise ReactivationError(f"could not write {path}: {os_error_text(err)}") from err
        raise


def os_error_text(err: OSError) -> str:
    """What went wrong and what to do, for an OS error while reading or writing results."""
    reason = err.strerror or str(err)
    hints = {
        errno.ENOSPC: "free some space or choose another path=",
        errno.EDQUOT: "free some space or choose another path=",
        errno.EROFS: "the file system is read-only; choose another path=",
        errno.EACCES: "you may not write there; choose another path= or fix its permissions",
        errno.EPERM: "you may not write there; choose another path= or fix its permissions",
        errno.ENOTDIR: "a file stands where a folder is needed; choose another path=",
        errno.EEXIST: "a file stands where a folder is needed; choose another path=",
    }
    hint = hints.get(err.errno) if err.errno is not None else None  # an OSError raised without one has None
    where = f" ({err.filename})" if err.filename else ""
    return f"{reason}{where}" + (f"; {hint}. Files already written are complete and kept." if hint else ".")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename."""
    atomic(path, lambda f: f.write(text.encode()))


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(data, indent=1) + "\n")

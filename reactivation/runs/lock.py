"""One writer per run directory: the advisory lock a training process holds on it, and the message that refuses a
second one.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
from pathlib import Path

from reactivation import ReactivationError
from reactivation.runs.files import file_mode
from reactivation.runs.layout import LOCK_FILE

log = logging.getLogger(__name__)


def busy(run_dir: Path, holder: str) -> ReactivationError:
    """The error that refuses a second writer of ``run_dir``."""
    return ReactivationError(
        f"{run_dir} is being written by another process ({holder}). Wait for it to finish, "
        "stop it (Ctrl-C, or kill <pid>: it stops resumably), or choose another path=."
    )


class RunLock:
    """Exclusive hold on a run directory for as long as one process trains into it.

    Uses an advisory ``flock`` on ``<run_dir>/.lock``: the kernel releases it when the holder dies, however it
    dies, so a lock left by a killed process is stale and simply taken over (the file then names a process
    that is gone, which is logged). The file records the holder (pid, host, start time) for the message that
    refuses a second writer.

    Raises:
        ReactivationError: another live process holds the directory (on ``__enter__``).
    """

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # not POSIX (Windows): runs are not locked there
            log.debug("no fcntl: %s is not locked", self.run_dir)
            return self
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, file_mode())
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise busy(self.run_dir, self._holder()) from None
            # The holder before us may have deleted the file between our open and our lock: lock the file that
            # is there now, not an orphaned inode.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        previous = os.read(fd, 4096).decode(errors="replace").strip()
        if previous:
            log.info("taking over the stale lock of %s (that process is gone)", previous)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(
            fd, f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode()
        )
        self._fd = fd
        return self

    @staticmethod
    def holder(run_dir: Path) -> str | None:
        """Who holds ``run_dir`` now (the lock file's record), or None if no live process does; changes nothing."""
        path = Path(run_dir) / LOCK_FILE
        try:
            import fcntl

            fd = os.open(path, os.O_RDONLY)
        except (ImportError, OSError):  # no lock file (or no fcntl): not held
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return RunLock(run_dir)._holder()
        finally:
            os.close(fd)  # also releases our shared lock at once
        return None

    def _holder(self) -> str:
        try:
            return self.path.read_text().strip() or "pid unknown"
        except OSError:
            return "pid unknown"

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)  # while still holding it: see the inode check in __enter__
            os.close(self._fd)
            self._fd = None

"""One signal policy for every entry point: SIGTERM is Ctrl-C, file writes finish, children stop with us.

Job schedulers (SLURM's time limit, ``scancel``), ``kill`` and container runtimes stop a process with
SIGTERM, whose default action ends it at once, wherever it is. Here, inside an entry point's own code
(:func:`handling`), SIGTERM raises :class:`Terminated` (a :class:`KeyboardInterrupt`), so a run stops exactly as
after Ctrl-C: the entry point prints how to resume and exits 130 (Ctrl-C) or 143 (SIGTERM). Outside it (start-up
imports, Hydra's own machinery: :func:`quiet_startup`) an interrupt is held until our code runs. Either signal
arriving while a file is being written (:func:`deferred_interrupts`) is held until the write is complete, so an
interruption never surfaces from inside ``torch.save`` as some other exception. A child process (``reproduce.py``
training through ``train.py -m``) runs in its own process group and is stopped with the parent
(:func:`run_child`), never left training on its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

#: Seconds a child group gets to stop after SIGTERM (it finishes its current write and exits) before SIGKILL.
CHILD_GRACE_S = 30.0


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated(f"signal {signum}")


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))
_pending: list[int] = []  # signals received while no entry point was ready for them


def _hold(signum, frame) -> None:
    if _pending:  # a second interrupt: the user insists, so stop now, without waiting for start-up to finish
        print("\ninterrupted while starting: nothing was written.", file=sys.stderr)
        raise SystemExit(128 + signum)
    _pending.append(signum)


def quiet_startup() -> None:
    """Hold Ctrl-C and SIGTERM until an entry point is ready for them (:func:`handling`).

    The first thing an entry script calls. Its imports (torch, Hydra) and Hydra's own start-up take seconds, and an
    interrupt inside them would print a traceback through whatever module it hit, or be swallowed by it. Held, it
    is raised as soon as the entry point's own code runs, which then stops cleanly. A second interrupt while one
    is held stops at once.
    """
    if _in_main_thread():
        for sig in _SIGNALS:
            signal.signal(sig, _hold)


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """While in the block, SIGTERM raises :class:`Terminated` and Ctrl-C :class:`KeyboardInterrupt`.

    An interrupt held since start-up (:func:`quiet_startup`) is raised on entry. On exit the previous handlers
    come back (between an entry point's steps, e.g. during Hydra's start-up, interrupts are held again).
    Off the main thread this is a plain block.
    """
    if not _in_main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        if _pending:
            signum = _pending.pop()
            raise Terminated(f"signal {signum}") if signum != signal.SIGINT else KeyboardInterrupt
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


_depth = 0


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the duration of the block, then deliver the first one that came.

    Nested blocks defer to the outermost. Off the main thread (where Python delivers no signals) this is a
    plain block.
    """
    global _depth
    if not _in_main_thread() or _depth:
        yield
        return
    received: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    for sig in _SIGNALS:
        signal.signal(sig, lambda signum, frame: received.append(signum))
    _depth = 1
    try:
        yield
    finally:
        _depth = 0
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    if received:
        _deliver(received[0], previous[received[0]])


def _deliver(signum: int, handler) -> None:
    """Act on a held signal as its handler would have when it arrived."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        if signum == getattr(signal, "SIGINT", None):
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    # SIG_IGN: ignored, as it would have been


def run_child(command: list[str], timeout_s: float | None = None, **popen_kwargs) -> int | None:
    """Run ``command`` to completion in its own process group and return its exit status.

    If this process is interrupted (Ctrl-C or SIGTERM) while waiting, the child's whole group (a Hydra
    multirun and its worker processes) gets SIGTERM, which our entry points treat as Ctrl-C; after
    :data:`CHILD_GRACE_S` seconds, or a second interrupt, it gets SIGKILL. The interrupt is then re-raised.

    With ``timeout_s``, a child still running after that many seconds is stopped the same way (our entry points
    finish the file they are writing and exit resumably) and ``None`` is returned.
    """
    proc = subprocess.Popen(command, start_new_session=True, **popen_kwargs)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _stop_group(proc)
        return None
    except KeyboardInterrupt:
        _stop_group(proc)
        raise


def _signal_group(proc: subprocess.Popen, signum: int) -> bool:
    """Send ``signum`` to the child's group; False when no process of the group is left."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signum)  # start_new_session: the group id is the child's pid
        elif proc.poll() is not None:  # Windows: no process groups of this kind
            return False
        elif signum:
            proc.send_signal(signum)
    except (ProcessLookupError, PermissionError):  # the group is gone
        return False
    return True


def _stop_group(proc: subprocess.Popen) -> None:
    _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + CHILD_GRACE_S
    try:
        # Wait for every process of the group (workers may outlive the group leader), not only the leader.
        while time.monotonic() < deadline and _signal_group(proc, 0):
            proc.poll()  # reap the leader, so that it no longer counts as a member
            time.sleep(0.1)
    except KeyboardInterrupt:  # a second interrupt: do not wait any longer
        pass
    _signal_group(proc, getattr(signal, "SIGKILL", signal.SIGTERM))
    proc.wait()

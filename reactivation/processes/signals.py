"""This process's own signal policy: SIGTERM raises :class:`Terminated` (Ctrl-C's way) inside an entry point's code
(:func:`handling`), interrupts are held during start-up (:func:`quiet_startup`) and while a file is being written
(:func:`deferred_interrupts`), and a supervised process (:func:`supervised`) stops silently on its first signal.

:mod:`reactivation.processes` gives the whole policy; this module is its part within one process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

#: Set by a process for the children it stops and reports itself (:func:`run_child`, :func:`supervising`): its pid.
SUPERVISOR_ENV = "REACTIVATION_SUPERVISOR"
# Read once, at import: a supervising process sets the variable to its own pid for its children, which must not
# make it stop thinking of itself as the child of its own supervisor (reproduce.py over train.py -m).
_SUPERVISED = os.environ.get(SUPERVISOR_ENV) == str(os.getppid())


def supervised() -> bool:
    """Whether this process's parent stops it on an interrupt and reports the interrupt itself.

    The parent named itself in :data:`SUPERVISOR_ENV`; a grandchild, which inherits the variable, is not
    supervised by a process that is not its parent.
    """
    return _SUPERVISED


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""


def _interrupt(signum: int) -> KeyboardInterrupt:
    """The exception an entry point raises for ``signum``: :class:`Terminated` for SIGTERM, else Ctrl-C's."""
    return KeyboardInterrupt() if signum == getattr(signal, "SIGINT", None) else Terminated(f"signal {signum}")


_stopping = False  # a supervised process has been asked to stop: later signals are the same request


def _raise_interrupt(signum, frame) -> None:
    global _stopping
    if _SUPERVISED:
        # Its parent forwards a signal that the terminal or the scheduler may have sent it too: the second copy
        # must not cut short the clean stop the first one started (a lock being released, a file being closed).
        if _stopping:
            return
        _stopping = True
    raise _interrupt(signum)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))
_pending: list[int] = []  # signals received while no entry point was ready for them


def _hold(signum, frame) -> None:
    if _pending:
        if _SUPERVISED:  # the same request again (see _raise_interrupt): the parent stops us if it must
            return
        # A second interrupt: the user insists, so stop now, without waiting for start-up to finish.
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
        if _SUPERVISED and hasattr(signal, "pthread_sigmask"):
            # A supervising parent starts its workers with both signals blocked (:func:`supervising`), so that
            # none kills one or prints a traceback before these handlers exist; one that came meanwhile is held now.
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
    if _SUPERVISED:
        _thread_lock_for_progress_bars()


def _thread_lock_for_progress_bars() -> None:
    """Give tqdm a thread lock instead of the multiprocessing semaphore it makes by default.

    A sweep's workers do not share that semaphore (each makes its own), so it orders nothing; and joblib, once a
    stopped worker has returned, kills it outright, leaving the semaphore for its resource tracker to report as
    "leaked" after the interrupt's message.
    """
    from tqdm.std import tqdm

    tqdm.set_lock(threading.RLock())


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
    global _stopping
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    for sig in _SIGNALS:
        signal.signal(sig, _raise_interrupt)
    try:
        if _pending:
            signum = _pending.pop()
            _stopping = True
            raise _interrupt(signum)
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

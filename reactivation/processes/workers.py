"""Worker processes this process starts and waits for (a local ``-m`` sweep's joblib workers), stopped once and
cleanly on Ctrl-C or SIGTERM (:func:`supervising`).
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reactivation.processes.signals import _SIGNALS, SUPERVISOR_ENV, _in_main_thread, _interrupt


def _children() -> list[int]:
    """The pids of this process's child processes (Linux: from /proc; elsewhere: multiprocessing's children)."""
    me, found = os.getpid(), []
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        import multiprocessing

        return [p.pid for p in multiprocessing.active_children() if p.pid is not None]
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # "pid (command) state ppid ...": the command may hold spaces and parentheses, so split after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1] == str(me):
            found.append(int(entry.name))
    return found


class _Supervisor:
    """The signals a :func:`supervising` block received, and the workers it has asked to stop."""

    def __init__(self) -> None:
        self.signals: list[int] = []
        self.insist = False  # a second signal: stop without waiting for the workers
        self._asked: set[int] = set()
        self._lock = threading.Lock()

    def note(self, signum: int) -> bool:
        """Record ``signum`` and ask the workers to stop; True from the second signal on (the user insists)."""
        with self._lock:
            self.signals.append(signum)
            again = len(self.signals) > 1
        self.stop_workers()
        return again

    def stop_workers(self) -> None:
        """SIGTERM, once, to every child process not asked yet (workers started since the first signal too).

        A child that ignores SIGTERM (joblib's resource tracker does) is left alone: nothing here kills.
        """
        for pid in _children():
            with self._lock:
                if pid in self._asked:
                    continue
                self._asked.add(pid)
            with contextlib.suppress(OSError):  # exited meanwhile
                os.kill(pid, signal.SIGTERM)

    def on_main_thread(self, signum, frame) -> None:
        """The handler of both signals in the main thread while the block lasts."""
        if self.insist or self.note(signum):
            self.insist = True
            raise _interrupt(signum)


def _wait_for_signals(supervisor: _Supervisor, done: threading.Event) -> None:
    """Take the block's signals from the kernel (they are blocked in every thread of the process) until ``done``."""
    while not done.is_set():
        info = signal.sigtimedwait(_SIGNALS, 0.1)
        if info is not None:
            if supervisor.note(info.si_signo):
                supervisor.insist = True
                _thread.interrupt_main(signal.Signals(info.si_signo))  # on_main_thread runs there and raises
        elif supervisor.signals:
            supervisor.stop_workers()


@contextlib.contextmanager
def supervising() -> Iterator[None]:
    """Around code that starts worker processes and waits for them (a local ``-m`` sweep's joblib workers): Ctrl-C
    or SIGTERM, to this process or to its whole process group, stops the command once, cleanly.

    - The workers start with SIGINT and SIGTERM blocked (the signal mask is inherited) and marked supervised
      (:data:`SUPERVISOR_ENV`), and unblock them once they hold them (:func:`quiet_startup`): no worker dies
      on a signal that came before its handlers, which would end the sweep with a "worker was unexpectedly
      terminated" traceback, or prints a ``KeyboardInterrupt`` traceback of its own.
    - The first signal sends SIGTERM once to every worker (also to one started later), whatever reached them
      already: each finishes the file it is writing and returns, silent, and the waiting code returns or raises
      as it does then. A second signal stops the wait at once.
    - On the way out, whatever the waiting code returned or raised, the block raises the first signal's
      interrupt (:class:`Terminated` for SIGTERM, :class:`KeyboardInterrupt` for Ctrl-C), so that the entry point
      prints its one message and exits 143 or 130; a worker's own interrupt (exit status 130 or 143, e.g. a
      worker killed alone) is reported the same way.

    Off the main thread this is a plain block. Where the system cannot take signals from a waiting thread
    (``signal.sigtimedwait``: not macOS or Windows), the workers are not started blocked.
    """
    if not _in_main_thread():
        yield
        return
    supervisor = _Supervisor()
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    before = os.environ.get(SUPERVISOR_ENV)
    os.environ[SUPERVISOR_ENV] = str(os.getpid())
    for sig in _SIGNALS:
        signal.signal(sig, supervisor.on_main_thread)
    done = threading.Event()
    waiter, mask = _start_waiter(supervisor, done)
    outcome: BaseException | None = None
    try:
        yield
    except BaseException as err:  # an interrupt or a worker's exit status: reported below
        outcome = err
    finally:
        done.set()
        if waiter is not None:
            waiter.join()
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # one that came since the waiter stopped runs now
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        if before is None:
            os.environ.pop(SUPERVISOR_ENV, None)
        else:
            os.environ[SUPERVISOR_ENV] = before
    interrupt = _interrupt_of(supervisor, outcome)
    if interrupt is not None:
        raise interrupt from None
    if outcome is not None:
        raise outcome


def _start_waiter(supervisor: _Supervisor, done: threading.Event) -> tuple[threading.Thread | None, Any]:
    """Block both signals in this thread (and so in the workers and threads started after) and start the thread
    that takes them (:func:`_wait_for_signals`); ``(thread, the signal mask before)``, or ``(None, None)`` where the
    system cannot take signals from a waiting thread."""
    if not (hasattr(signal, "pthread_sigmask") and hasattr(signal, "sigtimedwait")):
        return None, None
    import multiprocessing.resource_tracker

    # Started first: starting it later unblocks both signals in the thread that starts it (the standard
    # library's tracker undoes its own block that way), and the workers started after would inherit that.
    multiprocessing.resource_tracker.ensure_running()
    # Blocked here before the workers and the threads that start them exist, so that all of them inherit it.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    waiter = threading.Thread(target=_wait_for_signals, args=(supervisor, done), daemon=True)
    waiter.start()
    return waiter, mask


def _interrupt_of(supervisor: _Supervisor, outcome: BaseException | None) -> KeyboardInterrupt | None:
    """The interrupt a :func:`supervising` block raises on its way out: the first signal's, else that of a worker's
    exit status 130 (Ctrl-C) or 143 (SIGTERM) that ``outcome`` carries; ``None`` for neither."""
    if supervisor.signals:
        return _interrupt(supervisor.signals[0])
    if isinstance(outcome, SystemExit) and outcome.code in (130, 143):
        return _interrupt(signal.SIGINT if outcome.code == 130 else getattr(signal, "SIGTERM", 15))
    return None

"""One signal policy for every entry point: SIGTERM is Ctrl-C, file writes finish, children stop with us.

Job schedulers (SLURM's time limit, ``scancel``), ``kill`` and container runtimes stop a process with
SIGTERM, whose default action ends it at once, wherever it is. Here, inside an entry point's own code
(:func:`handling`), SIGTERM raises :class:`Terminated` (a :class:`KeyboardInterrupt`), so a run stops exactly as
after Ctrl-C: the entry point prints how to resume and exits 130 (Ctrl-C) or 143 (SIGTERM). Outside it (start-up
imports, Hydra's own machinery: :func:`quiet_startup`) an interrupt is held until our code runs. Either signal
arriving while a file is being written (:func:`deferred_interrupts`) is held until the write is complete, so an
interruption never surfaces from inside ``torch.save`` as some other exception. A child process (``reproduce.py``
training through ``train.py -m``) runs in its own process group and is stopped with the parent
(:func:`run_child`), never left training on its own. A local ``-m`` sweep's parent stops its worker processes the
same way (:func:`supervising`). Such a child or worker is *supervised* (:func:`supervised`): its parent says once
that the command was interrupted, so the child itself stops silently, on the first signal only.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

#: Seconds a child group gets to stop after SIGTERM (it finishes its current write and exits) before SIGKILL.
CHILD_GRACE_S = 30.0

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


def run_child(command: list[str], timeout_s: float | None = None, **popen_kwargs) -> int | None:
    """Run ``command`` to completion in its own process group and return its exit status.

    If this process is interrupted (Ctrl-C or SIGTERM) while waiting, the child's whole group (a Hydra
    multirun and its worker processes) gets SIGTERM, which our entry points treat as Ctrl-C; after
    :data:`CHILD_GRACE_S` seconds, or a second interrupt, it gets SIGKILL. The interrupt is then re-raised.

    With ``timeout_s``, a child still running after that many seconds is stopped the same way (our entry points
    finish the file they are writing and exit resumably) and ``None`` is returned.
    """
    # The child stops silently on our SIGTERM (supervised): this process says once what happened.
    env = {**(popen_kwargs.pop("env", None) or os.environ), SUPERVISOR_ENV: str(os.getpid())}
    proc = subprocess.Popen(command, start_new_session=True, env=env, **popen_kwargs)
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
    blocking = hasattr(signal, "pthread_sigmask") and hasattr(signal, "sigtimedwait")
    done = threading.Event()
    waiter = None
    if blocking:
        import multiprocessing.resource_tracker

        # Started first: starting it later unblocks both signals in the thread that starts it (the standard
        # library's tracker undoes its own block that way), and the workers started after would inherit that.
        multiprocessing.resource_tracker.ensure_running()
        # Blocked here before the workers and the threads that start them exist, so that all of them inherit it.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        waiter = threading.Thread(target=_wait_for_signals, args=(supervisor, done), daemon=True)
        waiter.start()
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
    if supervisor.signals:
        raise _interrupt(supervisor.signals[0]) from None
    if isinstance(outcome, SystemExit) and outcome.code in (130, 143):
        raise _interrupt(signal.SIGINT if outcome.code == 130 else getattr(signal, "SIGTERM", 15)) from None
    if outcome is not None:
        raise outcome

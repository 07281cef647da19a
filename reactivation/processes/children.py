"""A child command in its own process group, stopped with this process (:func:`run_child`): on an interrupt or a
timeout the whole group gets SIGTERM, then SIGKILL after :data:`CHILD_GRACE_S` seconds or a second interrupt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from reactivation.processes.signals import SUPERVISOR_ENV

#: Seconds a child group gets to stop after SIGTERM (it finishes its current write and exits) before SIGKILL.
CHILD_GRACE_S = 30.0


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

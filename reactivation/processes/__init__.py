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

One module a job: :mod:`~reactivation.processes.signals` (this process's handlers),
:mod:`~reactivation.processes.children` (a child's process group) and :mod:`~reactivation.processes.workers` (a
sweep's workers); this package gathers them.
"""

from __future__ import annotations

from reactivation.processes.children import CHILD_GRACE_S, run_child
from reactivation.processes.signals import (
    SUPERVISOR_ENV,
    Terminated,
    deferred_interrupts,
    handling,
    quiet_startup,
    supervised,
)
from reactivation.processes.workers import supervising

__all__ = [
    "CHILD_GRACE_S",
    "SUPERVISOR_ENV",
    "Terminated",
    "deferred_interrupts",
    "handling",
    "quiet_startup",
    "run_child",
    "supervised",
    "supervising",
]

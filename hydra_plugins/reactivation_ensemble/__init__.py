"""Hydra's entry to ``reactivation``'s launchers: ensembles (``hydra/launcher=ensemble``) and parallel local
processes (``hydra/launcher=local``).

Hydra finds launchers only in the ``hydra_plugins`` namespace package and imports every plugin module at start-up,
so this module is thin and imports the library only when a sweep is launched; the work is
:func:`reactivation.ensembles.launch` and :func:`reactivation.processes.supervising`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher  # type: ignore[import-untyped]
from omegaconf import DictConfig


class EnsembleLauncher(Launcher):
    """Trains the jobs of a ``reactivation train -m`` sweep as ensembles (see :mod:`reactivation.ensembles`).

    Args:
        max_members: ``auto`` (as many as fit in half the free memory) or the most members per ensemble.
    """

    def __init__(self, max_members: Any = "auto") -> None:
        self.max_members = max_members
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context  # the task function is not called: see launch

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from reactivation.ensembles import launch

        assert self.config is not None and self.hydra_context is not None  # Hydra calls setup() first
        return launch(self.hydra_context, self.config, job_overrides, initial_job_idx, self.max_members)


class LocalLauncher(JoblibLauncher):
    """Hydra's joblib launcher (``hydra/launcher=local``: one process per run), stopped as one command.

    Ctrl-C or SIGTERM, to the sweep's process or to its whole process group (a terminal's Ctrl-C, ``reproduce``
    stopping its training), stops every worker cleanly and prints one message, exit status 130 or 143
    (:func:`reactivation.processes.supervising`), where joblib alone prints a ``TerminatedWorkerError`` traceback or,
    for a signal to this process only, goes on training. A worker that dies (killed by the system, out of memory)
    is a one-line error. Its keys are the joblib launcher's (``n_jobs``, ...).
    """

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from concurrent.futures.process import BrokenProcessPool  # loky's TerminatedWorkerError is one

        from reactivation import ReactivationError
        from reactivation.cli import exit_on_error
        from reactivation.processes import supervising

        def body() -> Sequence[JobReturn]:
            try:
                with supervising():
                    return super(LocalLauncher, self).launch(job_overrides, initial_job_idx)
            except BrokenProcessPool as err:
                codes = str(err).rpartition("exit codes of the workers are ")[2].split("\n")[0] or "unknown"
                raise ReactivationError(
                    f"a training process of the sweep died (exit status {codes}), most likely killed by the system "
                    "for lack of memory: run fewer at once (hydra.launcher.n_jobs=1), then run the same command "
                    "again (finished runs are kept, unfinished ones resume from their last checkpoint)."
                ) from None

        return exit_on_error(body)()

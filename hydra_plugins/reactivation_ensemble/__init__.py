"""Hydra's entry to ``reactivation``'s ensemble launcher (``hydra/launcher=ensemble``).

Hydra finds launchers only in the ``hydra_plugins`` namespace package and imports every plugin module at start-up,
so this module is thin and imports the library only when a sweep is launched; the work is
:func:`reactivation.ensembles.launch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
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

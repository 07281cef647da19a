"""Training (docs/spec.md §5): fresh batches, MSE on the cell code, Adam, checkpoints and resume.

``train(cfg, run_dir)`` trains one run; ``train_ensemble(jobs)`` trains runs that share shapes, schedule and
optimiser settings as one stacked computation (:class:`~reactivation.models.Ensemble`, one ``torch.optim.Adam`` on
the stacked parameters: :mod:`reactivation.optim`), each member in its own ordinary run directory. Both are
independent of Hydra: ``train.py`` composes the config and picks the run directory; tests and notebooks call them
directly with a composed or hand-made config.

The package, by job: ``jobs`` (:func:`train`, :func:`train_ensemble`: lock, restore, group, train), ``loop`` (the
one loop that drives both), ``networks`` (what the loop steps: one model with its Adam, or an ensemble), ``run``
(each run's books: metrics, checkpoints, resume state), ``resume`` (reading and checking what a run directory
holds), ``divergence`` (the guard and its error) and ``losses`` (the objective).
"""

from __future__ import annotations

from reactivation.training.divergence import DIVERGED_FACTOR, Diverged, divergence_advice
from reactivation.training.jobs import Job, train, train_ensemble
from reactivation.training.resume import RESUME_KEYS

__all__ = ["DIVERGED_FACTOR", "RESUME_KEYS", "Diverged", "Job", "divergence_advice", "train", "train_ensemble"]

"""What the campaign measures along training (:func:`measure`): at a checkpoint, the distance analysis's step
statistics of that one network at paper sizes, and its logged test metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reactivation import runs
from reactivation.analysis import distance, protocol
from reactivation.analysis.results import read_test_metrics
from reactivation.analysis.settings import compose_analysis, settings
from reactivation.loading import load_run


def _family(config: dict[str, Any]) -> tuple[str, str]:
    return str(config["task"]["name"]), str(config["rnn"]["model"])


def measure(run_dir: Path, seed: int, step: int, device: str = "cpu") -> dict[str, float]:
    """Test metrics and quiescent step statistics of one checkpoint of the run in ``run_dir``.

    The distance analysis's statistics of this network alone at paper sizes (its active phase and its quiescent
    phase in the default mode; for a network trained without noise also with the noise of its noisy
    counterparts, ``quiescent_noisy_*``), plus the test loss and decoding error logged at ``step``. For a circle
    this includes ``quiescent_velocity``, the mean signed decoded angular velocity, rad/step.
    """
    task, model = _family(runs.load_config(run_dir))
    # The analysis settings give the sizes, the quiescence mode and the noise; the run itself is loaded directly.
    s = settings(compose_analysis("distance", "paper", task, model, seed, progress=False, device=device))
    setup = load_run(run_dir, step, device)
    phases = protocol.simulate(setup, s, s.cfg.batch_size, s.cfg.t_quiescent, modes=distance.modes_of(setup, s))
    entry = distance.condition_summary(phases, setup.task.geometry, s)
    entry.update(read_test_metrics(run_dir).get(str(step), {}))
    return {k: float(v) for k, v in entry.items()}

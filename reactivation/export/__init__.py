"""Rollouts of a trained network as pynapple objects and NWB files: the experimental ecosystem's formats (issue 12).

A *recording* is one rollout of a trained network, exported the way an experimentalist's session is stored:

* the decoded latent (spatial navigation: position in m; head direction: heading in rad; linear track: position
  in m; whatever the task's ``geometry`` says) as a ``Tsd`` (1-D latent) or a ``TsdFrame`` (columns ``x``, ``y``);
* the true latent, for an active rollout (the network driven by a batch of its task), in the same form;
* the hidden states (``TsdFrame``, one column per recurrent unit, columns ``0 .. n_rec - 1``);
* the network outputs, i.e. the activations of its place / head-direction cells (``TsdFrame``, one column per
  cell, with each cell's preferred latent as column metadata where the code has one);
* the trajectories as an ``IntervalSet``, one interval per trajectory, with the trajectory's index and true initial
  latent as metadata.

Time is in seconds, one network step being Δt = :data:`DT` = 0.02 s (docs/spec.md, "Units"; a run's own ``task.dt`` when
it is exported from its directory). Note that ``rnn.dt`` is not a time: it is the leak's dt / tau ratio, unitless.

Several trajectories are *concatenated* into one object per quantity, trajectory i occupying the epoch
``[i * period, i * period + T * Δt)`` with ``period = T * Δt + gap`` (gap :data:`GAP` = 1 s): this is how pynapple
holds a session of several trials, so ``restrict``, ``compute_tuning_curves``, ``decode_template``, ``smooth`` or
``time_diff`` over the time support treat every trajectory as its own epoch and never bridge the gap between two
of them, while one call analyses all of them at once. Step k of a trajectory (its state after k + 1 network steps,
k = 0 .. T - 1) is at ``start + k * Δt``, so the last sample lies a whole step inside its epoch.

Entry points:

* :func:`rollout`: load a run directory and roll it out with the analyses' own rollout
  (:func:`reactivation.analysis.protocol.simulate`, on the batch they use for the same seed), active or quiescent;
* :func:`from_arrays` / :func:`from_rollout`: convert arrays (or a :class:`reactivation.quiescence.Rollout`) a user
  already has;
* :func:`write_nwb` / :func:`read_nwb`: an NWB file that ``pynapple.load_file`` reads back into the same arrays,
  times and (via its ``trajectories`` intervals) time support; its name must end in ``.nwb``;
* :func:`run`: the command ``reactivation export config=<task>/<preset> seed=<seed> out=<file>.nwb``, which finds
  the run as the analyses do and writes its rollout (docs/commands.md).

A run that has not finished training is exported only when a checkpoint step is asked for (as an analysis's
``epoch=``), so that a half-trained network is never taken for a trained one.

pynapple and pynwb are the optional extra ``pip install 'reactivation[export]'``; they are imported when a function
needs them, so importing this module does not need them.
"""

from reactivation.export.command import COMMAND_CHECKS, EXAMPLE, FORMATS, check_command, run
from reactivation.export.nwb import (
    CELLS,
    INTERVALS,
    MODULE,
    NWB_SUFFIX,
    check_nwb_path,
    read_nwb,
    reference_frame,
    write_nwb,
)
from reactivation.export.recording import (
    DT,
    GAP,
    INSTALL,
    KINDS,
    SERIES,
    Recording,
    describe,
    from_arrays,
    from_rollout,
    trajectory_times,
)
from reactivation.export.rollout import QUIESCENT_STEPS, rollout

__all__ = [
    "CELLS",
    "COMMAND_CHECKS",
    "DT",
    "EXAMPLE",
    "FORMATS",
    "GAP",
    "INSTALL",
    "INTERVALS",
    "KINDS",
    "MODULE",
    "NWB_SUFFIX",
    "QUIESCENT_STEPS",
    "SERIES",
    "Recording",
    "check_command",
    "check_nwb_path",
    "describe",
    "from_arrays",
    "from_rollout",
    "read_nwb",
    "reference_frame",
    "rollout",
    "run",
    "trajectory_times",
    "write_nwb",
]

"""A recording: one rollout of a trained network as pynapple objects (:class:`Recording`), made from arrays or a
:class:`reactivation.quiescence.Rollout` (:func:`from_arrays`, :func:`from_rollout`); the times and epochs of its
trajectories (:mod:`reactivation.export` describes the layout)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from reactivation import ReactivationError
from reactivation.quiescence import Rollout

if TYPE_CHECKING:  # for the annotations only: the extra is imported when a function needs it
    import pynapple as nap


#: Duration of one network step, s (docs/spec.md, "Units": one time step = Δt = 0.02 s); a run's own ``task.dt`` wins.
DT = 0.02


#: Time between the end of one trajectory's epoch and the start of the next, s.
GAP = 1.0


#: What a rollout can be: driven by a batch of its task, or with the input off.
KINDS = ("active", "quiescent")


#: How to get the optional dependencies.
INSTALL = "pip install 'reactivation[export]'"


#: Names of the series in an NWB file (and of :meth:`Recording.series`), in the order they are written.
SERIES = ("decoded_latent", "true_latent", "hidden", "outputs")


def extra(name: str) -> Any:
    """Import a module of the ``export`` extra, or say how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        package = name.split(".", 1)[0]
        raise ReactivationError(
            f"reactivation.export needs {package}, which is not installed here ({err}). "
            f"Install the export extra: {INSTALL}"
        ) from err


@dataclass(frozen=True)
class Recording:
    """One exported rollout: pynapple objects over concatenated trajectories (see the module docstring).

    With B trajectories of T steps, every series holds B * T samples at the same times (s).

    Attributes:
        kind: ``active`` or ``quiescent``.
        decoded: the decoded latent, in the task's unit: a ``Tsd`` for a 1-D latent (heading in rad, track position
            in m), a ``TsdFrame`` with columns ``x``, ``y`` (, ``z``) otherwise (position in m).
        trajectories: ``IntervalSet`` of B intervals ``[start, start + T * dt)``, the time support of every series,
            with metadata ``trajectory`` (index 0 .. B - 1) and, when known, the true initial latent
            (``init_latent`` for a 1-D latent, else ``init_x``, ``init_y``, ...).
        latent: the true latent (active rollouts; ``None`` for quiescent ones), as ``decoded``.
        hidden: ``TsdFrame`` (B * T, n_rec) of hidden states (unitless), columns ``0 .. n_rec - 1``, or ``None``.
        outputs: ``TsdFrame`` (B * T, n_code) of network outputs, i.e. the cell activations (unitless), columns
            ``0 .. n_code - 1``, with metadata ``preferred_x``, ... (or ``preferred_latent``) where the code has
            preferred latents; or ``None``.
        info: what the recording is (JSON-able): ``kind``, ``dt`` (s), ``n_trajectories``, ``n_steps``,
            ``latent_unit``, and from a run ``run``, ``preset``, ``condition``, ``seed``, ``rollout_seed``,
            ``checkpoint_step``, ``task``, ``model``, ``mode``, ``sigma_rec``, ...
    """

    kind: str
    decoded: nap.Tsd | nap.TsdFrame
    trajectories: nap.IntervalSet
    latent: nap.Tsd | nap.TsdFrame | None = None
    hidden: nap.TsdFrame | None = None
    outputs: nap.TsdFrame | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def series(self) -> dict[str, Any]:
        """The series present, by their NWB names (:data:`SERIES`): name -> ``Tsd`` / ``TsdFrame``."""
        found = dict(zip(SERIES, (self.decoded, self.latent, self.hidden, self.outputs)))
        return {name: obj for name, obj in found.items() if obj is not None}

    def to_nwb(self, path: Path | str, **kwargs: Any) -> Path:
        """:func:`~reactivation.export.nwb.write_nwb` of this recording."""
        from reactivation.export.nwb import write_nwb  # nwb imports this module: the writer is looked up when used

        return write_nwb(self, path, **kwargs)


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _latent_columns(d: int) -> list[Any]:
    # pynapple names the columns of a 2- or 3-D NWB SpatialSeries x, y (, z) and any other by their index, so these
    # are the names a written file reads back with.
    return ["x", "y", "z"][:d] if d in (2, 3) else list(range(d))


def _latent_names(prefix: str, d: int) -> list[str]:
    """Metadata names of a latent's coordinates: ``<prefix>_latent`` for a 1-D latent, else ``<prefix>_x``, ..."""
    return [f"{prefix}_latent"] if d == 1 else [f"{prefix}_{c}" for c in _latent_columns(d)]


def trajectory_times(
    n_trajectories: int, n_steps: int, dt: float = DT, gap: float = GAP
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times of concatenated trajectories (see the module docstring).

    Returns:
        ``(t, starts, ends)``: (B * T,) sample times, trajectory by trajectory, and (B,) epoch starts and ends, all
        in s; trajectory i's step k is at ``starts[i] + k * dt`` and its epoch is ``[starts[i], starts[i] + T * dt)``.
    """
    if not (isinstance(n_trajectories, int) and n_trajectories >= 1 and isinstance(n_steps, int) and n_steps >= 1):
        raise ValueError(f"need at least one trajectory of at least one step, got {n_trajectories} x {n_steps}")
    if not (dt > 0 and gap > 0 and np.isfinite(dt) and np.isfinite(gap)):
        raise ValueError(f"dt and gap must be finite and > 0 (seconds), got dt={dt}, gap={gap}")
    period = n_steps * dt + gap
    starts = np.arange(n_trajectories) * period
    t = (starts[:, None] + dt * np.arange(n_steps)[None, :]).reshape(-1)
    return t, starts, starts + n_steps * dt


def _frame(nap_module: Any, t: np.ndarray, x: np.ndarray, support: Any, columns: list[Any], metadata: Any = None):
    """(B, T, d) values -> a ``Tsd`` (d = 1, no column names asked for) or a ``TsdFrame`` over ``support``."""
    flat = x.reshape(-1, x.shape[-1])
    if x.shape[-1] == 1 and not columns:
        return nap_module.Tsd(t=t, d=flat[:, 0], time_support=support)
    return nap_module.TsdFrame(t=t, d=flat, time_support=support, columns=columns, metadata=metadata)


def from_arrays(
    decoded: Any,
    *,
    kind: str,
    hidden: Any = None,
    outputs: Any = None,
    latent: Any = None,
    init_latent: Any = None,
    preferred: Any = None,
    dt: float = DT,
    gap: float = GAP,
    unit: str | None = None,
    info: Mapping[str, Any] | None = None,
) -> Recording:
    """Convert the arrays of a rollout (numpy or torch) into a :class:`Recording` of pynapple objects.

    Args:
        decoded: (B, T, d) decoded latent (or (B, T) for d = 1), in the task's unit (m or rad).
        kind: ``active`` or ``quiescent``.
        hidden: (B, T, n_rec) hidden states, or ``None``.
        outputs: (B, T, n_code) network outputs (cell activations), or ``None``.
        latent: (B, T, d) true latent of an active rollout (same unit as ``decoded``), or ``None``.
        init_latent: (B, d) true latent each trajectory starts from (trajectory metadata), or ``None``.
        preferred: (n_code, d) or (n_code,) preferred latent of each output cell (column metadata of ``outputs``).
        dt: duration of one step, s.
        gap: time between two trajectories' epochs, s.
        unit: unit of a latent coordinate (``m``, ``rad``), recorded in ``info`` and in the NWB file.
        info: anything else to record (JSON-able); ``kind``, ``dt``, sizes and ``latent_unit`` are added.

    Raises:
        ValueError: an unknown kind, a true latent for a quiescent rollout, or shapes that do not match.
    """
    nap_module = extra("pynapple")
    x = _decoded(decoded, kind, latent)
    n_traj, n_steps, d = x.shape
    t, starts, ends = trajectory_times(n_traj, n_steps, float(dt), float(gap))
    support = nap_module.IntervalSet(start=starts, end=ends, metadata=_trajectory_metadata(init_latent, n_traj, d))
    true = _series(latent, "latent", x.shape, d)
    states = _series(hidden, "hidden", x.shape)
    cells = _series(outputs, "outputs", x.shape)
    sizes = {"n_trajectories": n_traj, "n_steps": n_steps, "latent_unit": unit}
    record = {**dict(info or {}), "kind": kind, "dt": float(dt), "gap": float(gap), **sizes}

    def frame(values: np.ndarray | None, of_latent: bool = False, metadata: Any = None) -> Any:
        """A series over the trajectories: a latent's columns x, y (or none: a Tsd), a unit's or cell's index."""
        if values is None:
            return None
        names = ([] if d == 1 else _latent_columns(d)) if of_latent else list(range(values.shape[2]))
        return _frame(nap_module, t, values, support, names, metadata)

    outputs_frame = frame(cells, metadata=_cell_metadata(preferred, cells, d))
    return Recording(kind=kind, decoded=frame(x, True), trajectories=support, latent=frame(true, True),
                     hidden=frame(states), outputs=outputs_frame, info=record)  # fmt: skip


def _decoded(decoded: Any, kind: str, latent: Any) -> np.ndarray:
    """The decoded latent as a (B, T, d) array, checked with the kind of rollout.

    Raises:
        ValueError: an unknown kind, a shape that is not (B, T, d) or (B, T), or a true latent for a quiescent
            rollout.
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}: a rollout is one of {', '.join(KINDS)}")
    x = _numpy(decoded)
    x = x[..., None] if x.ndim == 2 else x
    if x.ndim != 3:
        raise ValueError(f"decoded has shape {x.shape}; expected (B, T, d) (or (B, T) for a 1-D latent)")
    if latent is not None and kind != "active":
        raise ValueError("a quiescent rollout has no true latent (the network runs without input); pass latent=None")
    return x


def _trajectory_metadata(init_latent: Any, n_traj: int, d: int) -> dict[str, Any]:
    """The trajectories' metadata: each one's index, and its true initial latent where given ((B, d))."""
    meta: dict[str, Any] = {"trajectory": np.arange(n_traj)}
    if init_latent is not None:
        x0 = _numpy(init_latent).reshape(n_traj, -1)
        if x0.shape[1] != d:
            raise ValueError(f"init_latent has shape {x0.shape}; expected ({n_traj}, {d})")
        meta.update(dict(zip(_latent_names("init", d), x0.T.astype(np.float64))))
    return meta


def _series(values: Any, name: str, shape: tuple[int, ...], width: int | None = None) -> np.ndarray | None:
    """``values`` as a (B, T, n) array checked against ``decoded``'s (B, T, d) ``shape``, n = ``width`` where given
    (a (B, T) array for a ``width`` of d = 1), or ``None`` for ``None``."""
    if values is None:
        return None
    n_traj, n_steps, d = shape
    v = _numpy(values)
    v = v[..., None] if v.ndim == 2 and width == d else v
    if v.ndim != 3 or v.shape[:2] != (n_traj, n_steps) or (width is not None and v.shape[2] != width):
        want = f"({n_traj}, {n_steps}, {'n' if width is None else width})"
        raise ValueError(f"{name} has shape {v.shape}; expected {want} like decoded")
    return v


def _cell_metadata(preferred: Any, cells: np.ndarray | None, d: int) -> dict[str, Any] | None:
    """The output cells' column metadata: each cell's preferred latent ((n_code, d)), where both are given."""
    if cells is None or preferred is None:
        return None
    pref = _numpy(preferred).reshape(cells.shape[2], -1)
    if pref.shape[1] != d:
        raise ValueError(f"preferred has shape {pref.shape}; expected ({cells.shape[2]}, {d})")
    return dict(zip(_latent_names("preferred", d), pref.T.astype(np.float64)))


def from_rollout(result: Rollout, *, kind: str, **kwargs: Any) -> Recording:
    """:func:`from_arrays` of a :class:`reactivation.quiescence.Rollout`: its decoded latent, and its hidden states and
    outputs where it kept them (``keep_hidden`` / ``keep_outputs``).

    The other keywords of :func:`from_arrays` (``latent``, ``init_latent``, ``preferred``, ``dt``, ``unit``,
    ``info``, ...) are passed on.
    """
    return from_arrays(result.decoded, kind=kind, hidden=result.hidden, outputs=result.outputs, **kwargs)


def describe(recording: Recording) -> str:
    """One sentence saying what the recording is (the NWB session description)."""
    info = recording.info
    size = f"{info.get('n_trajectories')} trajectories x {info.get('n_steps')} steps of {info.get('dt')} s"
    if recording.kind == "active":
        what = "active rollout (driven by a batch of its task, trained noise)"
    else:
        mode = f", quiescence mode {info['mode']}" if info.get("mode") else ""
        what = f"quiescent rollout (zero input{mode})"
    source = (
        f"run {info['run']} (preset {info.get('preset')}, seed {info.get('seed')}, condition {info.get('condition')})"
        if info.get("run")
        else "arrays converted by reactivation.export"
    )
    step, n_epochs = info.get("checkpoint_step"), info.get("n_epochs")
    if isinstance(step, int) and isinstance(n_epochs, int) and step < n_epochs:
        source += f" at its intermediate checkpoint step {step} of {n_epochs}"  # asked for: say so in the file
    sigma = f", recurrent noise sigma_rec = {info['sigma_rec']:g}" if info.get("sigma_rec") is not None else ""
    return f"reactivation {what} of {source}: {size}{sigma}."

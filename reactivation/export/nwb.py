"""NWB files of recordings (:func:`write_nwb`, :func:`read_nwb`): written atomically, read back by
``pynapple.load_file`` into the same arrays, times and time support."""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from reactivation import ConfigError, ReactivationError, __version__, runs
from reactivation.export.recording import KINDS, SERIES, Recording, describe, extra
from reactivation.geometry import Geometry

#: The suffix of an NWB file's name (:func:`check_nwb_path`).
NWB_SUFFIX = ".nwb"


#: Name of the processing module, the trajectories' intervals and the output cells' table in an NWB file.
MODULE, INTERVALS, CELLS = "reactivation", "trajectories", "output_cells"


# NWB's SpatialSeries spells its units out.
_NWB_UNITS = {"m": "meters", "rad": "radians"}


def reference_frame(geometry: Geometry) -> str:
    """What the latent's coordinates mean, for NWB's ``reference_frame``."""
    return geometry.frame


def check_nwb_path(path: Path | str, key: str | None = None) -> Path:
    """``path`` as a :class:`~pathlib.Path`, checked to name an NWB file: it must end in ``.nwb``.

    An NWB file is HDF5 whatever its name, but ``pynapple.load_file`` (and NWB tools) go by the suffix and
    read NWB only from a ``.nwb`` name, in lower case: a ``.csv`` or ``.h5`` name would hold a file that no reader
    opens as what it is, and a spreadsheet program would show it as garbage.

    Args:
        path: the file to write.
        key: the command-line key that gave it (``out``), to name in the message.

    Raises:
        ConfigError: any other suffix, with the name to use instead (a :class:`ReactivationError`).
    """
    given = f"{key}={path}" if key else str(path)  # as typed (a Path drops a trailing slash)
    path = Path(path)
    if path.suffix != NWB_SUFFIX:
        fixed = path.with_suffix(NWB_SUFFIX) if path.name else path / f"recording{NWB_SUFFIX}"
        raise ConfigError(
            f"{given}: an NWB file's name must end in {NWB_SUFFIX} (it is HDF5, whatever the name; pynapple.load_file "
            f"and NWB tools read NWB only from a {NWB_SUFFIX} name), e.g. {fixed}."
        )
    return path


def write_nwb(
    recording: Recording,
    path: Path | str,
    *,
    session_start_time: datetime | None = None,
    identifier: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a recording as an NWB file that ``pynapple.load_file(path)`` reads.

    Layout: processing module ``reactivation`` holding the SpatialSeries ``decoded_latent`` (and ``true_latent`` for
    an active rollout; unit meters or radians, with a reference frame) and the TimeSeries ``hidden`` and ``outputs``
    (unit ``a.u.``), all with the same explicit timestamps (s; stored once, linked by the others) since the gaps
    between trajectories make them irregular; the table ``output_cells`` (each cell's preferred latent, when
    known); the intervals ``trajectories`` (one row per trajectory with its metadata). The session description
    says what was rolled out (:func:`describe`) and ``notes`` holds ``recording.info`` as JSON.

    Args:
        recording: what to write.
        path: the ``.nwb`` file (its folder is created).
        session_start_time: NWB's session start (default: now, UTC).
        identifier: NWB's unique identifier (default: a fresh UUID).
        overwrite: replace an existing file.

    Returns:
        The path written. The file is written under a temporary name and renamed, so no torn file is left.

    Raises:
        ReactivationError: a name that does not end in ``.nwb`` (:func:`check_nwb_path`), the file exists (and not
            ``overwrite``), it cannot be written, or pynwb is missing.
    """
    pynwb = extra("pynwb")
    path = check_nwb_path(path)
    if path.exists() and not overwrite:
        raise ReactivationError(f"{path} exists; choose another path or pass overwrite=True.")
    info = recording.info
    nwb = pynwb.NWBFile(
        session_description=describe(recording),
        identifier=identifier or str(uuid.uuid4()),
        session_start_time=session_start_time or datetime.now(timezone.utc),
        session_id=f"{info.get('preset') or 'arrays'}/seed_{info.get('seed')}/{recording.kind}",
        notes=json.dumps(info),
        source_script=f"reactivation {__version__}, reactivation.export.write_nwb",
        source_script_file_name="reactivation/export/nwb.py",
        experiment_description="Offline reactivation in noisy recurrent networks trained on path integration.",
    )
    module = nwb.create_processing_module(name=MODULE, description=describe(recording))
    _add_series(pynwb, module, recording)
    _add_cells(module, recording)
    nwb.add_time_intervals(_intervals(pynwb, recording))
    return _write_atomic(pynwb, nwb, path)


def _in_unit(recording: Recording) -> str:
    """`` (m)``, `` (rad)``: the latent's unit as the tables' column descriptions add it, or ``""``."""
    unit: str | None = recording.info.get("latent_unit")
    return f" ({unit})" if unit else ""


def _add_series(pynwb: Any, module: Any, recording: Recording) -> None:
    """The recording's series in the processing module: ``decoded_latent`` (holding the timestamps, s),
    ``true_latent``, ``hidden`` and ``outputs`` (linking to them), each where the recording has it."""
    behavior = extra("pynwb.behavior")
    info = recording.info
    unit: str | None = info.get("latent_unit")
    decoded = recording.decoded
    first = behavior.SpatialSeries(
        name="decoded_latent",
        data=np.asarray(decoded.values),
        timestamps=np.asarray(decoded.index.values, dtype=np.float64),
        unit=_NWB_UNITS.get(unit, unit) if unit else "a.u.",
        reference_frame=info.get("reference_frame") or "the task's latent coordinates",
        description="latent decoded from the network outputs by the task's code (top-3 cells)",
    )
    module.add(first)
    if recording.latent is not None:
        module.add(
            behavior.SpatialSeries(
                name="true_latent",
                data=np.asarray(recording.latent.values),
                timestamps=first,  # a link: the timestamps are stored once
                unit=first.unit,
                reference_frame=first.reference_frame,
                description="true latent of the trajectory the network was driven by",
            )
        )
    described = {
        "hidden": "hidden states of the recurrent units (columns: unit index)",
        "outputs": "network outputs, the activations of the task's cells (columns: cell index)",
    }
    for name, obj in (("hidden", recording.hidden), ("outputs", recording.outputs)):
        if obj is not None:
            series = pynwb.TimeSeries(
                name=name, data=np.asarray(obj.values), timestamps=first, unit="a.u.", description=described[name]
            )
            module.add(series)


def _add_cells(module: Any, recording: Recording) -> None:
    """The ``output_cells`` table in the processing module: each output cell's preferred latent, where known."""
    cells = recording.outputs.metadata if recording.outputs is not None else None
    if cells is None or not len(cells.columns):
        return
    table = extra("hdmf.common").DynamicTable(name=CELLS, description="preferred latent of each output cell")
    for column in cells.columns:
        table.add_column(name=str(column), description=f"{column}{_in_unit(recording)}")
    for row in cells.itertuples(index=False):
        table.add_row(**{str(k): float(v) for k, v in zip(cells.columns, row)})
    module.add(table)


def _intervals(pynwb: Any, recording: Recording) -> Any:
    """The ``trajectories`` intervals: one row per trajectory (start and stop, s) with its metadata."""
    epochs = recording.trajectories
    intervals = pynwb.epoch.TimeIntervals(name=INTERVALS, description="one interval per trajectory")
    meta = epochs.metadata
    for column in meta.columns:
        in_unit = "" if column == "trajectory" else _in_unit(recording)
        intervals.add_column(name=str(column), description=f"trajectory {column}{in_unit}")
    for i in range(len(epochs)):
        row = {str(c): meta[c].iloc[i].item() for c in meta.columns}
        intervals.add_interval(start_time=float(epochs.start[i]), stop_time=float(epochs.end[i]), **row)
    return intervals


def _write_atomic(pynwb: Any, nwb: Any, path: Path) -> Path:
    """Write ``nwb`` to a temporary file beside ``path`` and rename it into place."""
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A fresh, dotted name (hidden from listings) that h5py creates itself, so the file gets the user's usual
        # permissions; it ends in .nwb because pynwb warns about any other name.
        tmp = path.parent / f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.nwb"
        with pynwb.NWBHDF5IO(tmp, "w") as io:
            io.write(nwb)
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise ReactivationError(f"could not write {path}: {runs.os_error_text(err)}") from err
        raise
    return path


def _open_nwb(nap_module: Any, path: Path) -> Any:
    """``pynapple.NWBFile`` of ``path``, with h5py's and pynwb's failures to open it told as what they mean."""
    written = "a .nwb file written by reactivation.export.write_nwb (or the `reactivation export` command)"
    try:
        return nap_module.NWBFile(str(path), lazy_loading=False)
    except OSError as err:
        # h5py's OSError carries no errno: tell an unreadable file from one that is not HDF5 by asking h5py.
        if not os.access(path, os.R_OK):
            raise ReactivationError(f"cannot read {path}: permission denied (not yours?); expected {written}.") from err
        if not extra("h5py").is_hdf5(str(path)):
            raise ReactivationError(
                f"{path} is not an NWB file: it is not HDF5 at all (NWB files are HDF5; is it a text or CSV file?). "
                f"Expected {written}."
            ) from err
        raise ReactivationError(
            f"{path} is HDF5 but cannot be opened: it is damaged or truncated (an interrupted copy?) ({err}). "
            f"Copy or write it again; expected {written}."
        ) from err
    except (KeyError, TypeError, ValueError) as err:  # pynwb on an HDF5 file that holds no NWB file
        raise ReactivationError(f"{path} is an HDF5 file but not an NWB file ({err}); expected {written}.") from err


def read_nwb(path: Path | str) -> Recording:
    """Read a file written by :func:`write_nwb` back into a :class:`Recording` (with pynapple's own NWB reader).

    The series are restricted to the ``trajectories`` intervals, which restores their time support; the outputs
    get their cells' metadata back from the ``output_cells`` table.

    Raises:
        ReactivationError: the file is missing, unreadable, not HDF5 (a text file, say), HDF5 but not NWB, damaged,
            or not written by :func:`write_nwb`; or pynapple is missing.
    """
    nap_module = extra("pynapple")
    path = Path(path)
    if not path.is_file():
        raise ReactivationError(f"{path} is not a file; write one with reactivation.export.write_nwb.")
    data = _open_nwb(nap_module, path)
    try:
        try:
            info = json.loads(data.nwb.notes)
            epochs = data[INTERVALS]
            if not (isinstance(info, dict) and info.get("kind") in KINDS):
                raise ValueError("its notes do not describe a rollout")
        except (KeyError, TypeError, ValueError) as err:
            raise ReactivationError(f"{path} was not written by reactivation.export.write_nwb ({err!r}).") from err
        support = nap_module.IntervalSet(
            start=epochs.start, end=epochs.end, metadata=epochs.metadata.reset_index(drop=True)
        )
        found = {name: data[name].restrict(support) for name in SERIES if name in data}
        module = data.nwb.processing.get(MODULE)
        if "outputs" in found and module is not None and CELLS in module.data_interfaces:
            cells = module[CELLS].to_dataframe().reset_index(drop=True)
            found["outputs"].set_info(cells.set_index(found["outputs"].columns))
    finally:
        data.close()
    return Recording(
        kind=info["kind"],
        decoded=found["decoded_latent"],
        trajectories=support,
        latent=found.get("true_latent"),
        hidden=found.get("hidden"),
        outputs=found.get("outputs"),
        info=info,
    )

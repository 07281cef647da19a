"""What every task returns (:class:`Batch`), and what every task provides (:class:`Task`).

A task is one module holding a :class:`CodedTask` subclass with a ``name``, its config keys and a
``from_config`` builder, and its configs under ``reactivation/configs/train``; ``reactivation.tasks.TASKS`` lists it.
Nothing else in the package knows a task's name: analyses and figures ask ``task.geometry``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor

from reactivation import ConfigError
from reactivation.codes import DECODE_TOP_K, PopulationCode
from reactivation.geometry import Geometry


@dataclass(frozen=True)
class Batch:
    """One batch of trajectories, all tensors on the task's device.

    Attributes:
        inputs: (B, T, n_in) network input per step (SN: displacement in metres per step,
            drift included; HD: heading change in radians per step).
        init_code: (B, n_code) population code of the initial latent (the network's initial state
            is ``Encoder @ init_code``).
        targets: (B, T, n_code) population code of the latent after each step.
        latent: (B, T, d) true latent after each step (SN: position in metres, d = 2;
            HD: heading in radians wrapped to [-pi, pi), d = 1).
        init_latent: (B, d) true latent the trajectory starts from (same units as ``latent``).
    """

    inputs: Tensor
    init_code: Tensor
    targets: Tensor
    latent: Tensor
    init_latent: Tensor

    def to(self, device: torch.device | str) -> Batch:
        """Return a copy with every tensor on ``device``."""
        return Batch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


class Task(Protocol):
    """A path-integration task: draws trajectories and owns the population code of its latent.

    Tasks are ``torch.nn.Module`` s so that ``.to(device)`` and ``state_dict()`` carry the code's
    centres (which are drawn once per run and saved with the model).
    """

    name: ClassVar[str]  # ``task.name`` in the configs, e.g. ``spatial_navigation``
    error_name: ClassVar[str]  # key of the decoding error in the test metrics (SN ``pos_mse``, HD ``hd_mse``)
    error_unit: ClassVar[str]  # its unit, e.g. ``m²``
    n_in: int  # input dimension (SN 2, HD 1)
    n_code: int  # number of units of the population code (= model n_out and n_init)
    latent_dim: int  # dimension of the latent (SN 2, HD 1)
    dt: float  # seconds per step (task.dt)
    sequence_length: int  # steps per trajectory (task.sequence_length)
    geometry: Geometry  # the latent's space: every statistic the analyses take of decoded latents
    geometry_type: ClassVar[type[Geometry]]  # its class, for what needs only units and labels (no built task)

    @classmethod
    def config_defaults(cls) -> dict[str, Any]:
        """The task's own config keys (not ``name``, ``batch_size``) with their defaults."""
        ...

    @classmethod
    def from_config(cls, values: Mapping[str, Any], generator: torch.Generator) -> Task:
        """Build the task from :meth:`config_defaults` overlaid with a config's (type-checked) values;
        ``generator`` (CPU) draws the code's random parts. Raises ``ConfigError`` for a bad value."""
        ...

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Draw ``batch_size`` trajectories with ``generator`` (which lives on the task's device)."""
        ...

    def decode(self, outputs: Tensor) -> Tensor:
        """Decode network outputs (..., n_code) into the latent (..., d)."""
        ...

    def decoding_error(self, outputs: Tensor, latent: Tensor) -> Tensor:
        """Scalar decoding error: SN mean squared error in m^2, HD mean squared wrapped error in rad^2."""
        ...


class CodedTask(torch.nn.Module):
    """Shared part of the tasks: the population code (submodule ``code``), decoding and batch assembly.

    A subclass declares the keys of its code in ``CODE_DEFAULTS``; its other config keys are its constructor's
    keyword arguments, whose defaults are the only copy of them in Python (the task's YAML repeats them for
    readers, and a test checks that the two agree).
    """

    CODE_DEFAULTS: ClassVar[dict[str, Any]] = {}
    #: The key of ``CODE_DEFAULTS`` that counts the code's cells (e.g. ``place_cells_num``).
    CELLS_KEY: ClassVar[str]
    # What every subclass sets (the :class:`Task` protocol's attributes), declared for the type checker.
    name: ClassVar[str]
    error_name: ClassVar[str]
    error_unit: ClassVar[str]
    geometry_type: ClassVar[type[Geometry]]
    n_in: int
    latent_dim: int
    dt: float
    sequence_length: int
    geometry: Geometry
    code: PopulationCode  # a torch.nn.Module as well, registered as the submodule ``code``

    def __init__(self, code: PopulationCode) -> None:
        super().__init__()
        self.code = code

    @classmethod
    def from_config(cls, values: Mapping[str, Any], generator: torch.Generator) -> CodedTask:
        """Build the task from a config's values (see :meth:`Task.from_config`); every subclass defines it."""
        raise NotImplementedError(f"{cls.__name__} does not define from_config")

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Draw ``batch_size`` trajectories (see :meth:`Task.sample`); every subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} does not define sample")

    def decoding_error(self, outputs: Tensor, latent: Tensor) -> Tensor:
        """Scalar decoding error (see :meth:`Task.decoding_error`); every subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} does not define decoding_error")

    @classmethod
    def config_defaults(cls) -> dict[str, Any]:
        """The constructor's keyword defaults and ``CODE_DEFAULTS``: every config key of the task."""
        keywords = {
            name: p.default
            for name, p in inspect.signature(cls.__init__).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        # In the order of the task's YAML (and so of a run's saved config.yaml, which the schema's fields set): the
        # movement's keys, the code's, then sequence_length and the keys after it.
        items = list(keywords.items())
        at = list(keywords).index("sequence_length") if "sequence_length" in keywords else len(items)
        return dict([*items[:at], *cls.CODE_DEFAULTS.items(), *items[at:]])

    @classmethod
    def cells(cls, values: Mapping[str, Any]) -> int:
        """The number of cells a config's task values ask for (``values[CELLS_KEY]``, else the default), without
        building the code (e.g. for a memory estimate)."""
        return int(values.get(cls.CELLS_KEY) or cls.CODE_DEFAULTS[cls.CELLS_KEY])

    @staticmethod
    def check_cells(values: Mapping[str, Any], count: str, width: str, surround: str | None = None) -> None:
        """Refuse a population code with fewer than ``DECODE_TOP_K`` cells (the decoders average that many), a
        tuning width ``values[width]`` that is not positive, or (``surround``: the key of a difference-of-Gaussians
        surround ratio, given where the code has one) a surround not wider than the centre; the messages name the
        ``task.`` keys."""
        if values[count] < DECODE_TOP_K or not values[width] > 0:
            raise ConfigError(
                f"task.{count} must be >= {DECODE_TOP_K} (decoding averages the top {DECODE_TOP_K} "
                f"cells) and task.{width} > 0, got {values[count]} and {values[width]}"
            )
        if surround and not values[surround] > 1:
            raise ConfigError(f"task.{surround} must be > 1 (surround wider than centre), got {values[surround]}")

    @classmethod
    def _task_values(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """The constructor's share of ``values`` (every key but the code's)."""
        return {k: v for k, v in values.items() if k not in cls.CODE_DEFAULTS}

    @property
    def n_code(self) -> int:
        """Number of units of the code (= model n_out and n_init)."""
        return self.code.n_units

    def decode(self, outputs: Tensor) -> Tensor:
        """Decode outputs (..., n_code) into the latent (..., d)."""
        return self.code.decode(outputs)

    def _batch(self, inputs: Tensor, init_latent: Tensor, latent: Tensor) -> Batch:
        # Encoding the latents here keeps targets and initial code consistent with ``decode``.
        return Batch(
            inputs=inputs,
            init_code=self.code.encode(init_latent),
            targets=self.code.encode(latent),
            latent=latent,
            init_latent=init_latent,
        )

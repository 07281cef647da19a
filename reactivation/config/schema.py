"""The training config's schema: the type of every key of ``train.yaml``'s own nodes, which Hydra checks when it
composes the config (a wrong type or an unknown key is refused then, before any check of ours runs).

The values stay in the YAML files (every field here is ``MISSING``): the schema says only what kind each key is,
so a default is written once. The fields are in ``train.yaml``'s order, the order of a run's saved config.yaml.
``task`` and ``logger`` hold keys of their own per task and logger; their types are those of their defaults,
checked by :func:`reactivation.config.preflight.preflight`. Where Hydra refuses a value, :func:`refusal` says so
as every other check does: the key, the value as typed, what is allowed and the preset's default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from reactivation import ConfigError
from reactivation.values import is_int, kind_of

#: The schema's name in Hydra's ConfigStore, the first entry of train.yaml's defaults list.
TRAIN_SCHEMA = "train_schema"


@dataclass
class RNNSchema:
    """``rnn.*``: the network (sizes in units, noise variances per step, ``dt`` and ``tau`` in the same unit)."""

    model: str = MISSING
    n_in: int = MISSING
    n_rec: int = MISSING
    n_out: int | None = MISSING  # null: the task's cell count
    n_init: int | None = MISSING  # null: the task's cell count
    sigma2_in: float = MISSING
    sigma2_rec: float = MISSING
    sigma2_out: float = MISSING
    noise_dist: str = MISSING
    dt: float = MISSING
    tau: float = MISSING
    bias: bool = MISSING
    activation_fn: str = MISSING


@dataclass
class TrainerSchema:
    """``trainer.*``: optimisation (counts in optimizer steps, ``lr`` and ``weight_decay`` Adam's)."""

    n_epochs: int = MISSING
    lr: float = MISSING
    weight_decay: float = MISSING
    test_freq: int = MISSING
    save_freq: int = MISSING
    decode_freq: int = MISSING
    progress: bool = MISSING
    matmul_precision: str = MISSING


@dataclass
class TrainSchema:
    """The training config's top level.

    It takes keys of its own besides its fields (a mapping, ``dict[str, Any]``): an empty user preset composes to
    ``config: {}``, a preset that changes nothing, which is allowed. A typo'd key of the command line is refused by
    :func:`reactivation.config.arguments.check_keys` all the same.
    """

    seed: int = MISSING
    scale: str = MISSING
    path: str = MISSING
    device: str = MISSING
    resume: bool = MISSING
    rnn: RNNSchema = field(default_factory=RNNSchema)
    trainer: TrainerSchema = field(default_factory=TrainerSchema)
    task: dict[str, Any] = field(default_factory=dict)
    logger: dict[str, Any] = field(default_factory=dict)


def register() -> None:
    """Store the schema in Hydra's ConfigStore under :data:`TRAIN_SCHEMA` (idempotent)."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    ConfigStore.instance().store(name=TRAIN_SCHEMA, node=OmegaConf.structured(TrainSchema, flags={"struct": False}))


#: The nodes whose keys the schema leaves untyped (each task and logger has its own).
UNTYPED = ("task", "logger")


def refusal(err: BaseException, run: list[str], defaults: dict[str, Any]) -> ConfigError | None:
    """The message for a command-line value the schema refused while Hydra composed ``run``; None for another error.

    Args:
        err: what composing ``run`` raised (Hydra's error, caused by OmegaConf's ValidationError).
        run: the run's ``key=value`` arguments.
        defaults: the preset's resolved ``{dotted key: value}`` at the run's scale, quoted as the allowed kind.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf.errors import ValidationError

    cause = err if isinstance(err, ValidationError) else err.__cause__
    if not isinstance(cause, ValidationError):
        return None
    key = str(cause.full_key)
    typed = [a for a in run if a.split("=", 1)[0].lstrip("+") == key]
    if not typed:  # a preset file's own value: Hydra's message names it
        return None
    value = OverridesParser.create().parse_override(typed[-1]).value()
    default = defaults.get(key)
    if default is None:  # rnn.n_out, rnn.n_init: null follows the task
        return ConfigError(f"{key}={value!r} is not allowed; it must be an integer, or null to follow the task.")
    return wrong_type(key, repr(value), default)


def wrong_type(key: str, shown: str, default: Any) -> ConfigError:
    """The message for ``key`` given a value (``shown`` as typed) not of its default's kind; an integer default
    asks for an integer."""
    kind = "an integer" if is_int(default) else kind_of(default)
    return ConfigError(f"{key}={shown} is not allowed; it must be {kind}, like its default {default!r}.")

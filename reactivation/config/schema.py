"""The training config's schema: the type of every key of ``train.yaml``'s own nodes, which Hydra checks when it
composes the config (a wrong type or an unknown key is refused then, before any check of ours runs).

The values stay in the YAML files (every field here is ``MISSING``): the schema says only what kind each key is,
so a default is written once. The fields are in ``train.yaml``'s order, the order of a run's saved config.yaml.
``task`` and ``logger`` hold keys of their own per task and logger: each task's and logger's YAML starts from a
schema of its own (:func:`reactivation.tasks.schema.task_schema`, generated from the task class's defaults, and
:func:`logger_schema`), which Hydra merges into the node before the YAML's values. Where Hydra refuses a value,
:func:`refusal` says so as every other check does: the key, the value as typed, what is allowed and the preset's
default.
"""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from typing import Any

from omegaconf import MISSING

from reactivation import ConfigError
from reactivation.config.arguments import argument_key
from reactivation.tasks import TASKS
from reactivation.tasks.schema import task_schema
from reactivation.values import wrong_type

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
    # Typed by the chosen task's and logger's own schema, the first entry of their YAML's defaults (register).
    task: dict[str, Any] = field(default_factory=dict)
    logger: dict[str, Any] = field(default_factory=dict)


#: Each logger's own keys (``logger.*`` besides ``name``) and their types; the values are in its YAML
#: (reactivation/configs/train/logger/, docs/loggers.md). null: the logger's own default (a path or a name).
LOGGER_KEYS: dict[str, dict[str, Any]] = {
    "none": {},
    "csv": {},
    "tensorboard": {"dir": str},
    "mlflow": {"tracking_uri": str | None, "experiment": str | None},
}


def logger_schema(name: str) -> type:
    """The dataclass typing logger ``name``'s node (``name`` and :data:`LOGGER_KEYS`), every field ``MISSING``."""
    fields = [("name", str, MISSING), *((key, kind, MISSING) for key, kind in LOGGER_KEYS[name].items())]
    return make_dataclass(f"{name.capitalize()}LoggerSchema", fields)


def task_schema_name(task: str) -> str:
    """The ConfigStore name of a task's schema, the first entry of its YAML's defaults (``/<name>@task``)."""
    return f"{task}_task_schema"


def logger_schema_name(logger: str) -> str:
    """The ConfigStore name of a logger's schema, the first entry of its YAML's defaults (``/<name>``)."""
    return f"{logger}_logger_schema"


def register() -> None:
    """Store the schemas in Hydra's ConfigStore (idempotent): the training config's under :data:`TRAIN_SCHEMA`,
    each task's and logger's under :func:`task_schema_name` and :func:`logger_schema_name`.

    They are stored outside the ``task`` and ``logger`` groups, so that they are no choice of a group (nor in a
    run's record of its choices, ``hydra.runtime.choices``).
    """
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    store = ConfigStore.instance()
    store.store(name=TRAIN_SCHEMA, node=OmegaConf.structured(TrainSchema, flags={"struct": False}))
    for task, cls in TASKS.items():
        store.store(name=task_schema_name(task), node=OmegaConf.structured(task_schema(cls)))
    for logger in LOGGER_KEYS:
        store.store(name=logger_schema_name(logger), node=OmegaConf.structured(logger_schema(logger)))


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
    # An element of a list (task.anchor_point=[0,a]) is refused under its index alone: Hydra's message names the
    # override it came from.
    typed = [a for a in run if argument_key(a) == str(cause.full_key)] or [
        a for a in run if str(err) == f"Error merging override {a}"
    ]
    if not typed:  # a preset file's own value: Hydra's message names it
        return None
    key = argument_key(typed[-1])
    value = OverridesParser.create().parse_override(typed[-1]).value()
    default = defaults.get(key)
    if default is None:  # a null default: what else the key takes
        return ConfigError(f"{key}={value!r} is not allowed; it must be {NULLABLE.get(key, 'null')}.")
    return wrong_type(key, repr(value), default)


#: What a key whose default is null takes besides null, as a message says it.
NULLABLE = {
    "rnn.n_out": "an integer, or null to follow the task",
    "rnn.n_init": "an integer, or null to follow the task",
    "logger.tracking_uri": "a string, or null for $MLFLOW_TRACKING_URI or the results root's database",
    "logger.experiment": "a string, or null for the preset's name",
}

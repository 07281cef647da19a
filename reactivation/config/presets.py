"""Where the configs live and which presets there are: the package's configs, the user's preset directories
(``REACTIVATION_PRESETS``), the presets by name and by (task, model family), and the options of config groups.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import yaml

from reactivation import CONDITIONS, DEFAULT_MODEL, ConfigError
from reactivation.tasks import TASKS
from reactivation.values import is_number

# The configs ship inside the package, so an installed wheel finds them wherever it runs.
TRAIN_CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs" / "train"
ANALYSIS_CONFIG_DIR = TRAIN_CONFIG_DIR.parent / "analysis"


#: The environment variable naming the user's own preset directories (several separated by ``os.pathsep``).
PRESETS_ENV = "REACTIVATION_PRESETS"


def user_config_dirs() -> list[Path]:
    """The directories of ``REACTIVATION_PRESETS``, each laid out like reactivation/configs/train.

    A directory holds presets as ``<dir>/config/<folder>/<name>.yaml`` (and may hold other groups, such as
    ``noise/``). Hydra searches them after the package's configs (``hydra.searchpath`` in train.yaml).

    Raises:
        ConfigError: a directory that does not exist or has no ``config/`` folder.
    """
    dirs = []
    for part in os.environ.get(PRESETS_ENV, "").split(os.pathsep):
        if not part.strip():
            continue
        path = Path(part).expanduser().resolve()
        if not (path / "config").is_dir():
            raise ConfigError(
                f"{PRESETS_ENV} names {part}, which has no config/ folder of presets. A presets directory is laid "
                f"out like reactivation/configs/train: <dir>/config/<folder>/<preset>.yaml. Fix it, or unset "
                f"{PRESETS_ENV}."
            )
        dirs.append(path)
    return dirs


def _preset_names(config_dir: Path) -> set[str]:
    root = config_dir / "config"
    return {p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml")}


def presets(config_dir: Path = TRAIN_CONFIG_DIR) -> list[str]:
    """Names accepted by ``config=``, e.g. ``spatial_navigation/noisy_unbiased``, sorted: the presets of
    ``config_dir`` and of the user's directories (:func:`user_config_dirs`).

    Raises:
        ConfigError: a user preset with the name of another preset (Hydra would silently take the first).
    """
    names = _preset_names(config_dir)
    for user_dir in user_config_dirs():
        theirs = _preset_names(user_dir)
        if names & theirs:
            raise ConfigError(
                f"{user_dir} ({PRESETS_ENV}) has presets named like existing ones, which would never be used: "
                f"{', '.join(sorted(names & theirs))}. Rename them (e.g. put them in a folder of your own)."
            )
        names |= theirs
    return sorted(names)


def families(config_dir: Path = TRAIN_CONFIG_DIR) -> dict[tuple[str, str], dict[str, str]]:
    """Every (task, model family) with presets, and its conditions: ``{(task, model): {condition: preset}}``.

    Read from the preset files, so a new task's presets are found without a list to edit: ``<task>/<condition>``
    is the vanilla RNN's preset of a condition (:data:`reactivation.CONDITIONS`), ``<task>/<condition>_<model>``
    another model family's (e.g. ``spatial_navigation/noisy_biased_gru``). Other presets (such as
    ``spatial_navigation/sorscher_2019``) and presets outside a task's folder belong to no family. The user's presets
    (:func:`user_config_dirs`) count too.
    """
    found: dict[tuple[str, str], dict[str, str]] = {}
    for preset in presets(config_dir):
        task, _, name = preset.rpartition("/")
        if task not in TASKS:  # a family is a task's: the analyses ask the task for its geometry
            continue
        for condition in CONDITIONS:
            if name == condition or name.startswith(condition + "_"):
                model = name[len(condition) + 1 :] or DEFAULT_MODEL
                found.setdefault((task, model), {})[condition] = preset
    # Tasks in the registry's order (vanilla RNNs first) and conditions in the paper's, whatever the file system's.
    order = {task: i for i, task in enumerate(TASKS)}

    def rank(family: tuple[str, str]) -> tuple:
        task, model = family
        return order.get(task, len(order)), task, model != DEFAULT_MODEL, model

    return {
        family: {c: found[family][c] for c in CONDITIONS if c in found[family]} for family in sorted(found, key=rank)
    }


def model_suffix(model: str) -> str:
    """``""`` for the vanilla RNN, ``_<model>`` for another model family: how the names of presets, results and
    figures tell a task's model families apart (``noisy_biased_gru``, ``kl_gru_0.0001_0.json``,
    ``kl_heatmap_gru.png``); :func:`families` reads it back from the preset names."""
    return "" if model == DEFAULT_MODEL else f"_{model}"


def preset_noise(task: str, config_dir: Path = TRAIN_CONFIG_DIR) -> float:
    """The recurrent noise variance ``rnn.sigma2_rec`` of a task's noisy presets (``noise/<task>/noisy.yaml``).

    Raises:
        ConfigError: the task has no such file, or it sets no finite ``sigma2_rec``.
    """
    path = config_dir / "noise" / task / "noisy.yaml"
    try:
        value = (yaml.safe_load(path.read_text()) or {}).get("sigma2_rec")
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(
            f"task {task!r} has no readable noise config {path} ({err}); a task's noisy presets "
            "take their noise from it."
        ) from err
    if not is_number(value) or not math.isfinite(value):
        raise ConfigError(f"{path} must set sigma2_rec to a finite variance; got {value!r}")
    return float(value)


def logger_choices(config_dir: Path = TRAIN_CONFIG_DIR) -> list[str]:
    """The options of the ``logger`` group (reactivation/configs/train/logger/)."""
    return sorted(p.stem for p in (Path(config_dir) / "logger").glob("*.yaml"))

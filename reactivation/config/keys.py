"""What the keys of a training config mean for a run: which do not change what is trained (they stay out of a run
directory's name and of comparisons), which were added after runs were first trained, and configs as dotted keys.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from reactivation.config.presets import TRAIN_CONFIG_DIR
from reactivation.tasks import TASKS


def _runtime_keys() -> tuple[str, ...]:
    # reactivation/configs/train/train.yaml says which keys stay out of a run directory's name (they do not change what
    # is trained); that list is the one place of this fact, read here rather than written again.
    train_yaml = yaml.safe_load((TRAIN_CONFIG_DIR / "train.yaml").read_text())
    excluded = train_yaml["hydra"]["job"]["config"]["override_dirname"]["exclude_keys"]
    return tuple(k for k in excluded if k not in ("config", "seed"))  # these two name the directory themselves


#: Keys that do not change what is trained: device, resume, path, scale (the sizes themselves are compared),
#: trainer.progress. Left out of run-directory names and of the comparison of a run with a command.
RUNTIME_KEYS = _runtime_keys()


#: Training keys added after runs were first trained, with the value every run that lacks them was trained with: a
#: saved config without one reads as having it (:func:`with_added_keys`), so older runs still resume, analyses
#: still find them, and readers read the key plainly.
ADDED_KEYS: dict[str, Any] = {
    "trainer.matmul_precision": "float32",
    # spatial navigation's motion model (docs/ratinabox.md); only a task that has these keys gets them
    "task.motion": "generator",
    "task.ratinabox_agents": 20,
    "task.ratinabox_steps": 2000,
}


def with_added_keys(config: dict[str, Any]) -> dict[str, Any]:
    """A run's saved (nested) config with each of :data:`ADDED_KEYS` it lacks set to the value it was trained with.

    A ``task.*`` key is added only where the run's task has that key: another task's build would refuse it as
    unknown. Returns a copy; ``config`` is left as it is.
    """
    task = config.get("task")
    name = task.get("name") if isinstance(task, dict) else None
    task_keys = TASKS[name].config_defaults() if name in TASKS else {}
    filled = copy.deepcopy(config)
    for key, value in ADDED_KEYS.items():
        section, leaf = key.split(".")  # every added key is one level down
        node = filled.get(section)
        if isinstance(node, dict) and node.get(leaf) is None and (section != "task" or leaf in task_keys):
            node[leaf] = value
    return filled


def is_runtime_key(key: str) -> bool:
    """Whether the dotted ``key`` (``logger.dir``) is one of :data:`RUNTIME_KEYS` or lies inside one (``logger``)."""
    parts = key.split(".")
    return any(".".join(parts[:n]) in RUNTIME_KEYS for n in range(1, len(parts) + 1))


def leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict flattened to ``{"rnn.n_rec": 512, ...}`` (dotted keys of its non-dict values)."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(leaves(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}

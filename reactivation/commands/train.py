"""``reactivation train config=spatial_navigation/noisy_unbiased seed=0`` (``python train.py ...`` in a checkout).

Presets live in reactivation/configs/train/config/<task>/ (and in the directories of ``REACTIVATION_PRESETS``);
every rnn.*, trainer.* and task.* key can be overridden (``--cfg job`` lists them). The run directory is
results/<preset>/[<overrides>/]seed_<seed>; running the same command again resumes or skips it. A sweep
(``-m config=a,b seed=0,1,2``) with ``hydra/launcher=ensemble`` trains its runs together (reactivation.ensembles).

Importing this module prepares the process for training (it is a command, not a library module).
"""
# ruff: noqa: E402  (quiet_startup must run before the slow imports below)

from reactivation.processes import quiet_startup

quiet_startup()  # an interrupt during start-up ends with one line, not a traceback

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from reactivation import ensembles, usage
from reactivation.cli import configure_process, exit_on_error
from reactivation.config import TRAIN_CONFIG_DIR, hydra_record, preflight, presets, register_resolvers
from reactivation.loading import build
from reactivation.training import train

# At import, not in main(): a launcher's worker process (joblib, submitit) imports this module to run _app.
register_resolvers()
configure_process(training=True)


@exit_on_error
def _job(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    preset = hydra_cfg.runtime.choices.get("config")
    train(cfg, hydra_cfg.runtime.output_dir, preset=preset, record=hydra_record(cfg))


# Hydra hands _job to the launcher. A joblib worker unpickles it by reference, and so imports this module (its
# start-up above: signals held, resolvers, process settings), only while the module's _job is the very function
# it receives: stacked under @hydra.main, it would travel by value and the worker would import none of it.
_app = hydra.main(config_path=str(TRAIN_CONFIG_DIR), config_name="train", version_base="1.3")(_job)


def _help() -> str:
    train = usage.command("train")
    return (
        f"usage: {train} config=<task>/<preset> seed=<int> [key=value ...]\n\npresets:\n  "
        + "\n  ".join(presets())
        + f"\n\n`{train} config=<preset> --help` lists a preset's keys and groups; `{train} config=<preset> seed=0 "
        "--cfg job` prints the config it composes."
    )


def main() -> None:
    """Check the command line (every run of a ``-m`` sweep), then train through Hydra."""
    argv = sys.argv[1:]
    # Hydra's --help composes the config, which needs a preset: without one, say what to choose.
    if {"-h", "--help"} & set(argv) and not any(a.startswith("config=") for a in argv):
        print(exit_on_error(_help)())
        return
    exit_on_error(ensembles.preflight)(argv)
    exit_on_error(preflight)(argv, TRAIN_CONFIG_DIR, check=build)
    _app()

"""Train a network: ``python train.py config=spatial_navigation/noisy_unbiased seed=0``.

Presets live in reactivation/configs/train/config/<task>/; every rnn.*, trainer.* and task.* key can be overridden
(``python train.py config=<preset> seed=0 --cfg job`` lists them). The run directory is
results/<preset>/[<overrides>/]seed_<seed>; running the same command again resumes or skips it.
"""
# ruff: noqa: E402  (quiet_startup must run before the slow imports below)

from reactivation.processes import quiet_startup

quiet_startup()  # an interrupt during start-up ends with one line, not a traceback

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from reactivation.cli import configure_process, exit_on_error
from reactivation.config import TRAIN_CONFIG_DIR, preflight, register_resolvers
from reactivation.loading import build
from reactivation.training import train

register_resolvers()
configure_process(training=True)


@hydra.main(config_path=str(TRAIN_CONFIG_DIR), config_name="train", version_base="1.3")
@exit_on_error
def main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    train(cfg, hydra_cfg.runtime.output_dir, preset=hydra_cfg.runtime.choices.get("config"))


if __name__ == "__main__":
    exit_on_error(preflight)(sys.argv[1:], TRAIN_CONFIG_DIR, check=build)
    main()

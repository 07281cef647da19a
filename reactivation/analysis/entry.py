"""The command-line entry of an analysis script (``output_<name>.py``): check, compose, run, say what was written."""

from __future__ import annotations

import sys
from collections.abc import Callable

import hydra
from omegaconf import DictConfig

from reactivation.analysis.settings import Settings, settings
from reactivation.cli import configure_process, exit_on_error
from reactivation.config import ANALYSIS_CONFIG_DIR, preflight_analysis, register_resolvers


def analysis_main(name: str, run: Callable[[Settings], dict]) -> Callable[[], None]:
    """The Hydra entry point of an analysis script (reactivation/configs/analysis/<name>.yaml).

    The command line is checked (:func:`~reactivation.config.preflight_analysis`) before Hydra composes it, and the
    composed values (:func:`~reactivation.analysis.settings.settings`) before any run is read.

    Args:
        name: the config name (``kl``, ``variance``, ``distance``, ``manifold``).
        run: the analysis, taking :class:`~reactivation.analysis.settings.Settings` and returning a dict with the
            written ``path``.
    """
    register_resolvers()
    configure_process()
    exit_on_error(preflight_analysis)(sys.argv[1:], name)

    @hydra.main(config_path=str(ANALYSIS_CONFIG_DIR), config_name=name, version_base="1.3")
    @exit_on_error
    def main(cfg: DictConfig) -> None:
        print(f"wrote {run(settings(cfg))['path']}")

    return main

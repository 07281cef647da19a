"""``reactivation <analysis> seed=0`` for every analysis of :mod:`reactivation.analyses` (kl, variance, distance,
manifold, drift, temperature, diffusion; ``python output_<name>.py seed=0`` in a checkout).

Reads the trained runs of one seed under results/ and writes results/<task>/<name>_<noise>_<seed>[_<tag>].json
and its .meta.json (<tag>: the settings that differ from the scale's defaults; docs/analyses.md, "Result files").
Keys: reactivation/configs/analysis/<name>.yaml (+ common.yaml).
"""
# ruff: noqa: E402  (quiet_startup must run before the slow imports below)

from reactivation.processes import quiet_startup

quiet_startup()  # an interrupt during start-up ends with one line, not a traceback

import sys

import hydra
from omegaconf import DictConfig

from reactivation import analyses
from reactivation.analysis.settings import settings
from reactivation.cli import configure_process, exit_on_error
from reactivation.config import ANALYSIS_CONFIG_DIR, preflight_analysis, register_resolvers


def main(name: str) -> None:
    """Run the analysis ``name`` (:mod:`reactivation.analyses`): check the command line, compose
    reactivation/configs/analysis/<name>.yaml, check its values, analyse."""
    analysis = analyses.get(name)
    register_resolvers()
    configure_process()
    exit_on_error(preflight_analysis)(sys.argv[1:], name)

    @hydra.main(config_path=str(ANALYSIS_CONFIG_DIR), config_name=name, version_base="1.3")
    @exit_on_error
    def app(cfg: DictConfig) -> None:
        print(f"wrote {analysis.run(settings(cfg))['path']}")

    app()

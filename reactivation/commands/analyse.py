"""``reactivation <analysis> seed=0`` for kl, variance, distance, manifold, drift, temperature, diffusion
(``python output_<name>.py seed=0`` in a checkout).

Reads the trained runs of one seed under results/ and writes results/<task>/<name>_<noise>_<seed>[_<tag>].json
and its .meta.json (<tag>: the settings that differ from the scale's defaults; docs/analyses.md, "Result files").
Keys: reactivation/configs/analysis/<name>.yaml (+ common.yaml).
"""
# ruff: noqa: E402  (quiet_startup must run before the slow imports below)

from reactivation.processes import quiet_startup

quiet_startup()  # an interrupt during start-up ends with one line, not a traceback

import sys
from collections.abc import Callable

import hydra
from omegaconf import DictConfig

from reactivation.analysis import diffusion, distance, drift, kl, manifold, temperature, variance
from reactivation.analysis.settings import Settings, settings
from reactivation.cli import configure_process, exit_on_error
from reactivation.config import ANALYSIS_CONFIG_DIR, preflight_analysis, register_resolvers


def _run(name: str, analysis: Callable[[Settings], dict]) -> None:
    """Check the command line, compose reactivation/configs/analysis/<name>.yaml, check its values, analyse."""
    register_resolvers()
    configure_process()
    exit_on_error(preflight_analysis)(sys.argv[1:], name)

    @hydra.main(config_path=str(ANALYSIS_CONFIG_DIR), config_name=name, version_base="1.3")
    @exit_on_error
    def app(cfg: DictConfig) -> None:
        print(f"wrote {analysis(settings(cfg))['path']}")

    app()


def kl_main() -> None:
    """KL(quiescent ‖ active) between decoded-output distributions (:mod:`reactivation.analysis.kl`)."""
    _run("kl", kl.run)


def variance_main() -> None:
    """How widely the quiescent decoded outputs spread (:mod:`reactivation.analysis.variance`)."""
    _run("variance", variance.run)


def distance_main() -> None:
    """Mean step length of decoded outputs, active vs quiescent (:mod:`reactivation.analysis.distance`)."""
    _run("distance", distance.run)


def manifold_main() -> None:
    """Quiescent hidden states in the active principal subspace (:mod:`reactivation.analysis.manifold`)."""
    _run("manifold", manifold.run)


def temperature_main() -> None:
    """KL(quiescent ‖ active) and spread against the noise factor c (:mod:`reactivation.analysis.temperature`)."""
    _run("temperature", temperature.run)


def drift_main() -> None:
    """The zero-input drift against the score of the active states (:mod:`reactivation.analysis.drift`)."""
    _run("drift", drift.run)


def diffusion_main() -> None:
    """Diffusive or sequential: MSD, step lengths, step autocorrelation (:mod:`reactivation.analysis.diffusion`)."""
    _run("diffusion", diffusion.run)

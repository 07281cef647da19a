"""``reactivation export config=spatial_navigation/noisy_unbiased seed=0 out=recording.nwb`` (``python export.py
...`` in a checkout): one rollout of a trained run as an NWB file that pynapple reads (docs/export.md).

Finds the run as the analyses do (``config``, ``seed``, ``train_overrides``, ``scale``, ``path``), refuses one that
has not finished training unless ``epoch=`` asks for a checkpoint, rolls it out (``kind=quiescent|active``) and
writes ``out``. Keys: reactivation/configs/analysis/export.yaml; the work is :func:`reactivation.export.run`.
"""
# ruff: noqa: E402  (quiet_startup must run before the slow imports below)

from reactivation.processes import quiet_startup

quiet_startup()  # an interrupt during start-up ends with one line, not a traceback

import sys

import hydra
from omegaconf import DictConfig

from reactivation import export, usage
from reactivation.cli import configure_process, exit_on_error
from reactivation.config import ANALYSIS_CONFIG_DIR, preflight_analysis, register_resolvers


@hydra.main(config_path=str(ANALYSIS_CONFIG_DIR), config_name="export", version_base="1.3")
@exit_on_error
def _app(cfg: DictConfig) -> None:
    path, recording = export.run(cfg)
    print(f"wrote {path}: {export.describe(recording)}")


def main() -> None:
    """Check the command line's keys, then export through Hydra (which checks the values: export.check_command)."""
    register_resolvers()
    configure_process()
    example = f"{usage.command('export')} {export.EXAMPLE}"  # preflight_analysis adds seed=0
    exit_on_error(preflight_analysis)(sys.argv[1:], "export", script=example)
    _app()

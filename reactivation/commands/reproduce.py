"""``reactivation reproduce scale=small`` (``python reproduce.py ...``): the paper from one command.

Trains every preset x seed that is missing, runs every analysis for every seed, draws every figure and writes
<path>/report.md with each claim of docs/spec.md §9 tested (mean ± std over seeds). Finished runs and results are
reused.
Keys: reactivation/configs/analysis/reproduce.yaml.
"""
# ruff: noqa: E402  (quiet_startup must run before the slow imports below)

from reactivation.processes import quiet_startup

quiet_startup()  # an interrupt during start-up ends with one line, not a traceback

import logging
import sys

import hydra
from omegaconf import DictConfig

from reactivation import pipeline, usage
from reactivation.cli import configure_process, exit_on_error
from reactivation.config import ANALYSIS_CONFIG_DIR, preflight_analysis, register_resolvers
from reactivation.reproduction.reporting import verdicts


@hydra.main(config_path=str(ANALYSIS_CONFIG_DIR), config_name="reproduce", version_base="1.3")
@exit_on_error
def _app(cfg: DictConfig) -> None:
    out, results = pipeline.run(cfg)
    for name, by_seed in results.items() if cfg.variants else [("", results)]:
        print("\n".join(f"{name + ': ' if name else ''}{line}" for line in verdicts(by_seed)))
    if out is not None:
        print(f"wrote {out}")


def main() -> None:
    """Check the command line, then run the pipeline's stages through Hydra."""
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    register_resolvers()
    configure_process()
    exit_on_error(preflight_analysis)(sys.argv[1:], "reproduce", script=usage.command("reproduce"), require_seed=False)
    _app()

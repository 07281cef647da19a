"""``reactivation campaign budget=2h``: advance the paper-scale campaign within a time budget.

Trains the next networks of the plan at paper scale (resuming an interrupted one), measures and copies each
finished one into the evidence store, runs the store's analyses and rebuilds docs/reproduction-paper.md; it stops
before the budget is spent, and the same command continues. Keys: reactivation/configs/analysis/campaign.yaml;
docs/campaign.md describes the plan and the store.
"""
# ruff: noqa: E402  (quiet_startup must run before the slow imports below)

from reactivation.processes import quiet_startup

quiet_startup()  # an interrupt during start-up ends with one line, not a traceback

import sys

import hydra
from omegaconf import DictConfig

from reactivation import usage
from reactivation.cli import configure_process, exit_on_error
from reactivation.config import ANALYSIS_CONFIG_DIR, preflight_analysis, register_resolvers
from reactivation.evidence import campaign


def main() -> None:
    """Check the command line, compose campaign.yaml once and advance the campaign."""
    register_resolvers()
    configure_process()
    script = usage.command("campaign")
    exit_on_error(preflight_analysis)(sys.argv[1:], "campaign", script=script, require_seed=False)
    command = " ".join([script, *sys.argv[1:]])

    @hydra.main(config_path=str(ANALYSIS_CONFIG_DIR), config_name="campaign", version_base="1.3")
    @exit_on_error
    def app(cfg: DictConfig) -> None:
        for line in campaign.run(campaign.from_config(cfg, command)):
            print(line)

    app()

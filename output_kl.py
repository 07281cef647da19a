"""Offline-reactivation analysis: `python output_kl.py seed=0` (keys: configs/analysis/kl.yaml).

Reads the trained runs of one seed under results/ and writes results/<task>/kl_<noise>_<seed>.json.
"""

from reactivation.analysis import kl
from reactivation.cli import analysis_main

if __name__ == "__main__":
    analysis_main("kl", kl.run)()

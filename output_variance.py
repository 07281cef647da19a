"""Offline-reactivation analysis: `python output_variance.py seed=0` (keys: configs/analysis/variance.yaml).

Reads the trained runs of one seed under results/ and writes results/<task>/variance_<noise>_<seed>.json.
"""

from reactivation.analysis import variance
from reactivation.cli import analysis_main

if __name__ == "__main__":
    analysis_main("variance", variance.run)()

"""Offline-reactivation analysis: `python output_manifold.py seed=0` (keys: configs/analysis/manifold.yaml).

Reads the trained runs of one seed under results/ and writes results/<task>/manifold_<noise>_<seed>.json.
"""

from reactivation.analysis import manifold
from reactivation.cli import analysis_main

if __name__ == "__main__":
    analysis_main("manifold", manifold.run)()

"""Offline-reactivation analysis: `python output_distance.py seed=0` (keys: configs/analysis/distance.yaml).

Reads the trained runs of one seed under results/ and writes results/<task>/distance_<noise>_<seed>.json.
"""

from reactivation.analysis import distance
from reactivation.cli import analysis_main

if __name__ == "__main__":
    analysis_main("distance", distance.run)()

"""Offline-reactivation analysis: `python output_distance.py seed=0` (keys: reactivation/configs/analysis/distance.yaml).

Reads the trained runs of one seed under results/ and writes results/<task>/distance_<noise>_<seed>[_<tag>].json
and its .meta.json (<tag>: the settings that differ from the scale's defaults; README, "Offline reactivation").
"""
# ruff: noqa: E402  (quiet_startup must run before the slow imports below)

from reactivation.processes import quiet_startup

quiet_startup()  # an interrupt during start-up ends with one line, not a traceback

from reactivation.analysis import distance
from reactivation.analysis.entry import analysis_main

if __name__ == "__main__":
    analysis_main("distance", distance.run)()

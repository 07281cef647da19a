"""Drift against score: ``python output_drift.py seed=0``.

The checkout's spelling of ``reactivation drift`` (reactivation/commands/analyse.py, which documents it).
"""

from reactivation.commands.analyse import main

if __name__ == "__main__":
    main("drift")

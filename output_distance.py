"""The distance analysis: ``python output_distance.py seed=0``.

The checkout's spelling of ``reactivation distance`` (reactivation/commands/analyse.py, which documents it).
"""

from reactivation.commands.analyse import main

if __name__ == "__main__":
    main("distance")

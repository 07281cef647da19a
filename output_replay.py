"""The replay analysis: ``python output_replay.py seed=0``.

The checkout's spelling of ``reactivation replay`` (reactivation/commands/analyse.py, which documents it).
"""

from reactivation.commands.analyse import main

if __name__ == "__main__":
    main("replay")

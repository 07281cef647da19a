"""The noise temperature sweep: ``python output_temperature.py seed=0``.

The checkout's spelling of ``reactivation temperature`` (reactivation/commands/analyse.py, which documents it).
"""

from reactivation.commands.analyse import main

if __name__ == "__main__":
    main("temperature")

"""The variance analysis: ``python output_variance.py seed=0``.

The checkout's spelling of ``reactivation variance`` (reactivation/commands/analyse.py, which documents it).
"""

from reactivation.commands.analyse import main

if __name__ == "__main__":
    main("variance")

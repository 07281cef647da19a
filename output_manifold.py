"""The manifold analysis: ``python output_manifold.py seed=0``.

The checkout's spelling of ``reactivation manifold`` (reactivation/commands/analyse.py, which documents it).
"""

from reactivation.commands.analyse import main

if __name__ == "__main__":
    main("manifold")

"""The kl analysis: ``python output_kl.py seed=0``.

The checkout's spelling of ``reactivation kl`` (reactivation/commands/analyse.py, which documents it).
"""

from reactivation.commands.analyse import main

if __name__ == "__main__":
    main("kl")

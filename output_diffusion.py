"""Diffusion against sequence: ``python output_diffusion.py seed=0``.

The checkout's spelling of ``reactivation diffusion`` (reactivation/commands/analyse.py, which documents it).
"""

from reactivation.commands.analyse import main

if __name__ == "__main__":
    main("diffusion")

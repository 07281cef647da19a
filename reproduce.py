"""Reproduce the paper: ``python reproduce.py scale=small``.

The checkout's spelling of ``reactivation reproduce`` (reactivation/commands/reproduce.py, which documents it).
"""

from reactivation.commands.reproduce import main

if __name__ == "__main__":
    main()

"""``python -m reactivation.figures task=spatial_navigation``: ``reactivation figures`` by its module name
(reactivation/commands/figures.py, which documents it)."""

from reactivation.commands.figures import main

if __name__ == "__main__":
    main()

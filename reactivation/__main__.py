"""``python -m reactivation <command> ...``: the ``reactivation`` command (:mod:`reactivation.commands`)."""

from reactivation.commands import main

if __name__ == "__main__":
    main()

"""How a user types each command: ``python train.py`` in a checkout, ``reactivation train`` once installed.

Messages that say what to run next (a missing run's training command, a result's analysis command, an example
in an error) spell it the way this process was started, so a user of the installed command is never told to run
a script they do not have. The ``reactivation`` command (:mod:`reactivation.commands`) marks its process, and so
the processes it starts, in the environment.
"""

from __future__ import annotations

import os

from reactivation import analyses

#: Set by the ``reactivation`` command; inherited by the processes it starts (a reproduction's training stage).
ENV = "REACTIVATION_COMMAND"

#: The checkout's script for each command.
SCRIPTS = {
    "train": "python train.py",
    **{a.name: a.script for a in analyses.ANALYSES},
    "figures": "python -m reactivation.figures",
    "export": "python export.py",
    "reproduce": "python reproduce.py",
    "campaign": "python campaign.py",
}


def command(name: str) -> str:
    """How to run command ``name`` here, e.g. ``"python train.py"`` or ``"reactivation train"``."""
    return f"reactivation {name}" if os.environ.get(ENV) else SCRIPTS[name]

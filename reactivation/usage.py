"""How a user types each command: ``python train.py`` in a checkout, ``reactivation train`` once installed.

Messages that say what to run next (a missing run's training command, a result's analysis command, an example
in an error) spell it the way this process was started, so a user of the installed command is never told to run
a script they do not have. The ``reactivation`` command (:mod:`reactivation.commands`) marks its process, and so
the processes it starts, in the environment. A checkout's script run from another directory is spelt with its
path (``python /home/me/reactivation/train.py``), so the command can be pasted where the user is.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

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


#: The checkout around this package, where its scripts are (an installed wheel has none: they are not found there).
CHECKOUT = Path(__file__).resolve().parent.parent


def command(name: str) -> str:
    """How to run command ``name`` here, e.g. ``"python train.py"`` or ``"reactivation train"``; a checkout's script
    with its path when this process runs in another directory (``python /path/to/checkout/train.py``)."""
    if os.environ.get(ENV):
        return f"reactivation {name}"
    python, script = SCRIPTS[name].split(" ", 1)
    path = CHECKOUT / script
    if script.endswith(".py") and path.is_file() and Path.cwd().resolve() != CHECKOUT:
        return f"{python} {shlex.quote(str(path))}"
    return SCRIPTS[name]

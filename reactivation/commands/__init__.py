"""The command line: ``reactivation <command> [key=value ...]`` (also ``python -m reactivation <command>``).

Each command lives in its own module here, which the checkout's scripts (``python train.py``, ``python
output_kl.py``, ``python reproduce.py``, ``python -m reactivation.figures``) run too: one implementation, two
spellings. Only the chosen command's module is imported, so ``reactivation --help`` is instant and a training
command does not load the plotting stack.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys

from reactivation import __version__, analyses, usage

#: ``name: (module:function under reactivation.commands, what it does)``, in the order of a study. The analyses
#: (:mod:`reactivation.analyses`) all run through ``analyse:main``, which is given the command's name.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("train:main", "train a network: config=<task>/<preset> seed=<int> [key=value ...]"),
    **{a.name: ("analyse:main", a.summary) for a in analyses.ANALYSES},
    "figures": ("figures:main", "draw every figure of a task from the runs and results found"),
    "export": ("export:main", "one rollout of a trained run as an NWB file (pynapple): config=... seed=... out=x.nwb"),
    "reproduce": ("reproduce:main", "train what is missing, run every analysis and figure, write the report"),
    "campaign": ("campaign:main", "advance the paper-scale campaign within a budget: train, store, analyse"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    return (
        "usage: reactivation <command> [key=value ...]\n\ncommands:\n" + "\n".join(lines) + "\n\n"
        "`reactivation <command> --help` shows a command's keys (Hydra); `--cfg job` prints the composed config.\n"
        "In a checkout the same commands are also python train.py, python output_<analysis>.py, python "
        "export.py, python reproduce.py and python -m reactivation.figures."
    )


def _print(text: str) -> None:
    """Print to stdout; a reader that went away (``reactivation --help | head``) is not an error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the interpreter's last flush is quiet


def main(argv: list[str] | None = None) -> None:
    """Run ``reactivation <command> [arguments]``; ``argv`` defaults to ``sys.argv[1:]``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        _print(_usage())
        sys.exit(0 if argv else 2)
    if argv[0] == "--version":
        print(f"reactivation {__version__}")
        return
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        print(f"error: unknown command {name!r}.{hint} Commands: {', '.join(COMMANDS)}.", file=sys.stderr)
        sys.exit(2)
    os.environ[usage.ENV] = "1"
    # Hydra reads the command line from sys.argv: the command's own arguments, under the command's name.
    sys.argv = [f"reactivation {name}", *rest]
    module, function = COMMANDS[name][0].split(":")
    target = getattr(importlib.import_module(f"{__name__}.{module}"), function)
    target(name) if name in analyses.NAMES else target()

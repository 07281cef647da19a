"""How many Hydra compositions one run of an analysis command makes, and where (issue #27, "settings as values").

`python benchmarks/compositions.py [--analysis kl|...|figures] [--root /tmp/compositions]`

Trains the SN vanilla family at a tiny size under ``--root`` (once), then runs ``reactivation <analysis> seed=0`` (or
``reactivation figures``, which reads every analysis's results) on it in this process, counting every configuration
Hydra composes (``ConfigLoaderImpl.load_configuration``: the command's own, and each one the library composes
through :func:`reactivation.config.compose_config`), with the library functions that asked for it. Prints a
markdown table.
"""

from __future__ import annotations

import argparse
import collections
import sys
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hydra._internal.config_loader_impl import ConfigLoaderImpl  # noqa: E402

from reactivation.analysis.settings import FAMILIES  # noqa: E402
from reactivation.config import compose_train  # noqa: E402
from reactivation.training import train  # noqa: E402

TINY = ["trainer.n_epochs=2", "task.sequence_length=6", "task.batch_size=4", "rnn.n_rec=8", "trainer.progress=false"]


def count(analysis: str, root: Path) -> collections.Counter:
    """Compositions of one ``reactivation <analysis> seed=0`` (or ``reactivation figures``) on the tiny runs under
    ``root``: {where: count}."""
    if not (root / "trained").exists():
        for preset in FAMILIES[("spatial_navigation", "vanilla")].values():
            cfg = compose_train([f"config={preset}", "seed=0", "scale=tiny", *TINY])
            train(cfg, root / preset / "seed_0", preset=preset)
        (root / "trained").write_text("")
    calls: collections.Counter = collections.Counter()
    load = ConfigLoaderImpl.load_configuration

    def counting(self: Any, config_name: str, *args: Any, **kwargs: Any) -> Any:
        stack = traceback.extract_stack()
        ours = [f for f in stack if "/reactivation/" in f.filename and "/reactivation/config/" not in f.filename]
        where = " < ".join(f"{Path(f.filename).stem}.{f.name}" for f in ours[-2:])
        calls[f"{config_name} ({where})"] += 1
        return load(self, config_name, *args, **kwargs)

    ConfigLoaderImpl.load_configuration = counting  # type: ignore[method-assign]
    from reactivation.commands import analyse, figures

    listed = "[" + ",".join(f'"{o}"' for o in TINY) + "]"
    sys.argv = [f"reactivation {analysis}", f"path={root}", "scale=tiny", f"train_overrides={listed}",
                "progress=false"]  # fmt: skip
    try:
        if analysis == "figures":
            figures.main()  # reads what the tiny runs have; draws to <root>/spatial_navigation/figures/
        else:
            sys.argv.insert(1, "seed=0")
            analyse.main(analysis)
    finally:
        ConfigLoaderImpl.load_configuration = load  # type: ignore[method-assign]
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--analysis", default="kl")
    parser.add_argument("--root", type=Path, default=Path("/tmp/compositions"))
    args = parser.parse_args()
    calls = count(args.analysis, args.root)
    print("\n| configuration composed (asked for by) | times |\n|---|---|")
    for where, n in calls.most_common():
        print(f"| {where} | {n} |")
    print(f"| **total** | **{sum(calls.values())}** |")


if __name__ == "__main__":
    main()

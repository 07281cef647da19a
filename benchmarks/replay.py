"""The replay analysis at paper sizes on the shipped networks (docs/replay.md): its time, its numbers, its pictures.

`python benchmarks/replay.py [--path evidence/paper] [--tasks spatial_navigation head_direction] [--reuse]
[--out FILE] [--img docs/img]`

For each task's vanilla family of the store (seed 0), runs ``reactivation replay`` at paper sizes (or, with
``--reuse``, reads the result already there and the wall time its meta file recorded), then prints per network the
share of time bins of each dynamic, active and quiescent, the decoder's median error on held-out active bins and
the spikes per bin, and the analysis's wall time with its grid and time-bin counts. Markdown to stdout, and to
``--out`` if given; the figures ``replay_dynamics`` and ``replay_event`` of each task go to ``--img`` as
``replay_<task>_{dynamics,event}.png``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reactivation.analysis import replay, results, settings  # noqa: E402
from reactivation.figures.make import replay_figures  # noqa: E402
from reactivation.figures.style import label, save  # noqa: E402
from reactivation.tasks import TASKS  # noqa: E402

DYNAMICS = ("continuous", "fragmented", "stationary", "unclassified")


def measure(task: str, path: str, reuse: bool) -> tuple[settings.Settings, dict, dict]:
    """(settings, result, meta) of the replay analysis of ``task``'s vanilla family, seed 0, at paper sizes."""
    s = settings.settings(settings.compose_analysis("replay", "paper", task, "vanilla", 0, path=path))
    if not reuse:
        replay.run(s)
    result, meta = results.read_result(s, "replay")
    return s, result, meta


def table(task: str, s: settings.Settings, result: dict, meta: dict) -> list[str]:
    """Markdown lines of one family."""
    unit, variance = TASKS[task].geometry_type.unit, TASKS[task].geometry_type.variance_note
    lines = [
        f"### {task}, vanilla, seed 0",
        "",
        f"Share of time bins classified (posterior > {s.cfg.threshold}) as continuous / fragmented / stationary / "
        f"unclassified; decoder error: median over held-out active bins ({unit}).",
        "",
        f"| network | active | quiescent | spread active, quiescent ({variance}) | decoder error | spikes per bin "
        "(active, quiescent) |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in result.items():
        cells = [" / ".join(f"{entry[p]['classified'][d]:.2f}" for d in DYNAMICS) for p in replay.PHASES]
        spikes = ", ".join(f"{entry['spikes_per_bin'][p]:.3g}" for p in replay.PHASES)
        spread = ", ".join(f"{entry['spread'][p]:.3g}" for p in replay.PHASES)
        error = f"{entry['decoding_error']:.3f}"
        lines.append(f"| {label(name)} | {cells[0]} | {cells[1]} | {spread} | {error} | {spikes} |")
    cfg, fitted = s.cfg, next(iter(meta["fitted"].values()))
    bins = len(result) * cfg.n_events * (TASKS[task].config_defaults()["sequence_length"] + cfg.t_quiescent)
    lines += [
        "",
        f"Wall time {meta['seconds']:.0f} s for {len(result)} networks ({bins // cfg.bin_steps} time bins decoded; "
        f"bins of {fitted['bin_size']:.3g} {unit} and {fitted['bin_s']:g} s; {meta['package']}).",
        "",
    ]
    return lines


def _cpu() -> str:
    """The CPU's model name (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--path", default="evidence/paper")
    parser.add_argument("--tasks", nargs="+", default=["spatial_navigation", "head_direction"])
    parser.add_argument("--reuse", action="store_true", help="read the results there instead of computing them")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--img", type=Path)
    parser.add_argument("--note", default="", help="what else the machine was doing, for the record")
    args = parser.parse_args()
    lines = [
        "# The replay analysis at paper sizes",
        "",
        f"Machine: {platform.machine()}, {_cpu()}, "
        f"{time.strftime('%Y-%m-%d')}. Command: `python benchmarks/replay.py "
        f"{'--reuse ' if args.reuse else ''}--path {args.path}`. {args.note}",
        "",
    ]
    for task in args.tasks:
        s, result, meta = measure(task, args.path, args.reuse)
        lines += table(task, s, result, meta)
        if args.img:
            for name, fig in replay_figures({0: result}, TASKS[task].geometry_type.unit):
                save(fig, args.img / f"{name.replace('replay', f'replay_{task}')}.png", dpi=110)
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

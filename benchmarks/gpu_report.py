"""The rendering of benchmarks/gpu.py: its results (the JSON it writes) as the markdown report it prints.

:func:`markdown` is the whole report; each ``_<part>`` function renders one section as a list of lines, from
the part of the results it names (an entry that is a string is a failed or skipped item, shown as such).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # gpu_checks.py and gpu_timings.py, imported as modules from any working directory

from gpu_checks import TESTS  # noqa: E402
from gpu_timings import CHUNK, PRESETS, ROLLOUT_BATCH  # noqa: E402


def _t(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MB"


def _num(x: float) -> str:
    return f"{x:.1e}" if x else "0"


def markdown(results: dict) -> str:
    """The report of one run's ``results`` (as benchmarks/gpu.py's ``main`` builds them), ending in a newline."""
    out = _header(results)
    out += _correctness_markdown(results["correctness"], results.get("correctness_pass"))
    out += _device_checks(results["device_checks"])
    out += _speed(results["timings"], results["environment"])
    out += _ensembles(results.get("ensembles", {}))
    out += _graphs(results["graphs"])
    out += _compiles(results["compile"])
    return "\n".join(out) + "\n"


def _header(results: dict) -> list[str]:
    """The title (host and device), the measuring conditions and, on CPU, what a plumbing run skips."""
    env, cuda = results["environment"], results["environment"]["device"].startswith("cuda")
    where = (
        f"{env.get('gpu')} ({env.get('gpu_memory_gib')} GiB, compute capability {env.get('capability')}), "
        f"CUDA {env['cuda']}, cuDNN {env.get('cudnn')}"
        if cuda
        else "CPU only"
    )
    out = [
        f"# GPU check and benchmark: {env['host']}, {where}",
        "",
        (
            f"Measured {env['date']} on {env['platform']}, Python {env['python']}, torch {env['torch']}; "
            f"`{env['command']}`. Sizes: {env['sizes']}; {env['repeats']} repeats after {env['warmup']} warm-up "
            f"calls (median); TF32 off (matmul {env['tf32']['matmul.allow_tf32']}, cuDNN "
            f"{env['tf32']['cudnn.allow_tf32']}): all float32. Total {results.get('elapsed_s', 0):.0f} s."
        ),
        "",
    ]
    if not cuda:
        out += [
            (
                "**CPU plumbing run**: the correctness tests compare CPU with CPU (differences must be 0) and skip "
                "the CPU-against-CUDA ones; CUDA graphs, the sync-debug check and cuDNN are skipped (the fused "
                "baseline uses the CPU kernels)."
            ),
            "",
        ]
    return out


def _correctness_markdown(r: dict | str, verdict: bool | None) -> list[str]:
    """The correctness tests' table (one row a test), verdict and pytest output's tail."""
    out = [f"## Correctness against the CPU reference (`{TESTS}`)", ""]
    if not isinstance(r, dict):
        return out + [str(r), "", "**Verdict: FAIL**", ""]
    out += [
        (
            f"`{r['command']}` in the repository root: exit code {r['returncode']}, {r['seconds']:.0f} s, "
            f"{r['summary']}. Each model (tests/cuda_check.py) runs on CPU and on the device from the same weights, "
            "batch and noise (drawn on CPU): forward, MSE, backward, the zero-input forward with the same noise and "
            "a noise-free `rollout()`; every hidden state, output, loss and gradient must agree to "
            "‖device − cpu‖ / ‖cpu‖ ≤ the tolerance, TF32 off; a noisy device `rollout()` must be finite and stay "
            "on the device. Largest difference: the largest of these measures in the test."
        ),
        "",
        "| test | outcome | time | largest difference / message |",
        "|---|---|---|---|",
    ]
    for name, t in r["tests"].items():
        outcome = t["outcome"] if t["outcome"] in ("passed", "skipped") else f"**{t['outcome'].upper()}**"
        detail = t.get("largest_difference", "") if t["outcome"] == "passed" else t["message"].replace("|", "\\|")
        out.append(f"| `{name}` | {outcome} | {t['seconds']:.1f} s | {detail} |")
    if not r["tests"]:
        out.append("| (no test report) | **FAIL** | | |")
    tail = r["output_tail"].rstrip().splitlines()[-25:]
    out += [
        "",
        f"**Verdict: {'PASS' if verdict else 'FAIL'}**",
        "",
        "pytest output (tail):",
        "",
        "```",
        *tail,
        "```",
        "",
    ]
    return out


def _device_checks(checks: dict) -> list[str]:
    """One item a network: are batch and noise on the device, and the host syncs of each piece of a step."""
    out = ["## Device checks", ""]
    for name, r in checks.items():
        if not isinstance(r, dict):
            out.append(f"- {name}: {r}")
            continue
        out.append(
            f"- {name}: batch and noise from a device generator on the device: "
            f"{'yes' if r['on_device'] else 'NO'} ({', '.join(sorted(set(r['devices'].values())))})"
        )
        if isinstance(r["syncs"], str):
            out.append(f"  - host syncs in one training step: {r['syncs']}")
        else:
            counts = ", ".join(f"{piece} {len(lines)}" for piece, lines in r["syncs"].items())
            out.append(
                f"  - host syncs in one training step (sync debug mode {r['sync_mode']}; control `.item()` "
                f"detected: {r['control_detected']}): {counts}{' (none)' if r['syncs_total'] == 0 else ''}"
            )
            for piece, lines in r["syncs"].items():
                for line in sorted(set(lines))[:5]:
                    out.append(f"    - {piece}: `{line}`")
    return out + [
        "",
        (
            "`reactivation.training.train` itself reads the loss every step (`torch.isfinite(loss)` and "
            "`loss.item()` for the metrics log): one host round trip per step by design, not counted above."
        ),
        "",
    ]


def _speed(timings: dict, env: dict) -> list[str]:
    """bench.py's table on the device: training steps, quiescent rollouts and the matmul rate."""
    fused_name = "fused (cuDNN)" if env["device"].startswith("cuda") else "fused (CPU kernels)"
    out = [
        f"## Speed and memory on `{env['device']}`",
        "",
        f"| measurement | ours | {fused_name} | ratio ours / fused | other |",
        "|---|---|---|---|---|",
    ]
    rate = timings.get("matmul")
    for name in PRESETS:
        r = timings.get(f"train:{name}")
        if not isinstance(r, dict):
            out.append(f"| {name} training step | {r} | | | |")
            continue
        floor = (
            f"; {r['gflop']:.3g} GFLOP: floor {_t(r['gflop'] / rate['tflops'] / 1e3)}" if isinstance(rate, dict) else ""
        )
        out.append(
            f"| {name} training step (B {r['sizes']['B']}, T {r['sizes']['T']}, {r['sizes']['n_rec']} units) "
            f"| {_t(r['step_s'])} | {_t(r['fused_step_s'])} | {r['ratio']:.2f} | generation "
            f"{_t(r['generation_s'])} ({r['generation_share']:.1%}); peak {_mb(r['peak_mb'])} (fused "
            f"{_mb(r['fused_peak_mb'])}, generation {_mb(r['generation_peak_mb'])}){floor} |"
        )
    for name in ("SN vanilla", "HD vanilla"):
        r = timings.get(f"rollout:{name}")
        if not isinstance(r, dict):
            out.append(f"| {name} quiescent rollout | {r} | | | |")
            continue
        out.append(
            f"| {name} quiescent rollout, {ROLLOUT_BATCH} × {env['rollout_steps']} steps | {_t(r['seconds'])} "
            f"| {_t(r['fused_seconds'])} | {r['ratio']:.2f} | {r['memory']} growth over the chunks "
            f"{r['rss_growth_mb']:+.0f} MB; peak {_mb(r['peak_mb'])} (ours and fused) |"
        )
    if isinstance(rate, dict):
        out.append(f"| float32 matmul {rate['n']}² | {rate['tflops']:.1f} TFLOP/s | | | |")
    elif rate is not None:
        out.append(f"| float32 matmul | {rate} | | | |")
    return out


def _ensembles(ensembles: dict) -> list[str]:
    """One row per network and member count E: step time, throughput against E = 1, peak and growth per member."""
    out = ["", "## Ensembles: E networks as one stacked training step", ""]
    out += [
        (
            "benchmarks/ensemble.py's step (the training loop's own: each member's batch from its stream, the "
            "stacked forward and backward, torch Adam on the stacked parameters, the divergence check), members of "
            "different seeds, every "
            "other one without recurrent noise. Ratio = throughput against E = 1 on this device."
        ),
        "",
        "| network | E | step | network-steps/s | ratio | peak | growth per member (measured / estimate) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, by_size in ensembles.items():
        one = by_size.get("1")
        for e, r in by_size.items():
            if not isinstance(r, dict):
                out.append(f"| {name} | {e} | {r} | | | | |")
                continue
            ratio = f"{r['throughput'] / one['throughput']:.2f}x" if isinstance(one, dict) else "-"
            growth = (
                f"{(r['peak_mb'] - one['peak_mb']) / (int(e) - 1):.3g}"
                if isinstance(one, dict) and int(e) > 1 and r["peak_mb"] is not None
                else "-"
            )
            out.append(
                f"| {name} | {e} | {_t(r['step_s'])} | {r['throughput']:.1f} | {ratio} | {_mb(r['peak_mb'])} "
                f"| {growth} / {r['estimate_mb_per_member']:.3g} MB |"
            )
    return out


def _graphs(graphs: dict | str) -> list[str]:
    """The CUDA graph rows (rollout() against the graphed rollout), or why there are none."""
    out = ["", "## CUDA graph of the quiescent rollout chunk", ""]
    if isinstance(graphs, str):
        return out + [graphs]
    out += [
        (
            f"Each {CHUNK}-step no-grad forward replayed from one captured graph (static zero input, noise "
            "and state buffers; noise refilled per chunk from the device generator), against `rollout()`."
        ),
        "",
        "| model | rollout() | graphed | speedup | capture | replay vs eager (max abs) | peak |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in graphs.items():
        if isinstance(r, dict):
            out.append(
                f"| {name}, {ROLLOUT_BATCH} × {r['steps']} | {_t(r['eager_s'])} | {_t(r['graph_s'])} "
                f"| {r['speedup']:.2f} | {_t(r['capture_s'])} | {_num(r['replay_vs_eager']['max_abs'])}"
                f"{'' if r['finite'] else ' NOT FINITE'} | {_mb(r['peak_mb'])} |"
            )
        else:
            out.append(f"| {name} | {r} | | | | | |")
    return out


def _compiles(comp: dict | str) -> list[str]:
    """The torch.compile rows (one per model and mode), or why there are none."""
    out = ["", "## torch.compile of the model in the training step", ""]
    if isinstance(comp, str):
        return out + [comp]
    out += [
        (
            "`model.compile(mode=...)` inside bench.py's training step (generation and Adam stay eager). "
            "Compile = first compiled step less one eager step."
        ),
        "",
        "| model | mode | eager step | compiled step | speedup | compile | graph breaks | peak |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, r in comp.items():
        name, mode = key.split(":")
        if isinstance(r, dict):
            finite = "" if r["parameters_finite"] else " (parameters NOT finite)"
            out.append(
                f"| {name} | {mode} | {_t(r['eager_step_s'])} | {_t(r['step_s'])} | {r['speedup']:.2f}"
                f"{finite} | {_t(r['compile_s'])} | {r['graph_breaks']} | {_mb(r['peak_mb'])} |"
            )
        else:
            out.append(f"| {name} | {mode} | {r} | | | | | |")
    return out

"""Where a noisy SN training step spends the time it loses to the fused kernel: `python benchmarks/profile_step.py`.

Times, interleaved in one process at 1 and 2 threads: the library's full training step, the fused nn.RNN step of
the same shapes (no noise), and three parts of ours that the fused step does not have or does not count: drawing
the recurrent noise (200 x 100 x 512 normals; torch's CPU generator is serial), the trajectory simulation and
the place-cell encoding of the targets. Prints one line per thread count.

`python benchmarks/profile_step.py --ops head_direction/noisy_biased` instead prints torch's profiler table of
three training steps of that preset at one thread (operators by self CPU time).
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench import _interleaved_medians, fused_step, training_step  # noqa: E402
from reactivation.cli import configure_process  # noqa: E402
from reactivation.seeding import generator  # noqa: E402


def operators(preset: str) -> None:
    """torch's profiler table of three training steps of ``preset`` at one thread, after three warm-up steps."""
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(1)
    step, _ = training_step(preset)
    for _ in range(3):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", metavar="PRESET", help="print the operator table of this preset's step instead")
    args = parser.parse_args()
    configure_process(training=True)
    if args.ops:
        operators(args.ops)
        return
    for threads in (1, 2):
        torch.set_num_threads(threads)
        step, s = training_step("spatial_navigation/noisy_unbiased")
        gen_noise, gen_batch = generator(0, "train_noise"), generator(0, "train_batches")
        batch = s.task.sample(200, gen_batch)
        ours, fused, simulate, encode, noise = _interleaved_medians(
            [
                step,
                fused_step(s),
                lambda: s.task.simulate(200, gen_batch),  # noqa: B023 (each is timed within this iteration)
                lambda: s.task.code.encode(batch.latent),  # noqa: B023
                lambda: s.model.sample_noise(200, 100, gen_noise),  # noqa: B023
            ],
            repeats=7,
        )
        print(
            f"threads {threads}: step {ours * 1e3:.0f} ms, fused {fused * 1e3:.0f} ms (ratio {ours / fused:.2f}); "
            f"noise draw {noise * 1e3:.0f} ms ({noise / ours:.1%} of the step); trajectory simulation "
            f"{simulate * 1e3:.0f} ms, place-cell encoding {encode * 1e3:.0f} ms; ratio without the noise draw "
            f"{(ours - noise) / fused:.2f}"
        )


if __name__ == "__main__":
    main()

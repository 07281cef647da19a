"""Independent random streams derived from one integer seed.

Every source of randomness of a run has its own named stream, so that changing how often one is used
(e.g. evaluating more often) never changes the draws of another (e.g. the training batches).
"""

from __future__ import annotations

import hashlib

import torch

#: Streams of a training run: place-cell centres, training batches, the fixed test batch,
#: weight initialisation, training noise and evaluation noise. ``analysis`` seeds the offline analyses
#: ``random_network`` their untrained baseline network, and ``replay_spikes``
#: the replay analysis's Poisson spikes.
STREAMS = (
    "centres",
    "train_batches",
    "test_batch",
    "init",
    "train_noise",
    "eval_noise",
    "analysis",
    "random_network",
    "replay_spikes",
)


def stream_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for ``stream``, a fixed function of ``seed`` and the stream's name."""
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; known streams: {', '.join(STREAMS)}")
    digest = hashlib.blake2b(f"reactivation:{seed}:{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def generator(seed: int, stream: str, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded for ``stream``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(stream_seed(seed, stream))
    return gen

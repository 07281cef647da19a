"""Noisy recurrent models (docs/spec.md §4), ``build_model``, which makes one from the ``rnn`` config node, and
``Ensemble``, which runs E models of one kind and shape as one batched computation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from omegaconf.errors import OmegaConfBaseException

from reactivation import DEFAULT_MODEL, ConfigError
from reactivation.models.ensemble import Ensemble
from reactivation.models.gru import NoisyGRU
from reactivation.models.noise import NOISE_DISTS, NoiseSample, sample_noise
from reactivation.models.rnn import ACTIVATIONS, NoisyRecurrentBase, NoisyRNN

__all__ = [
    "ACTIVATIONS",
    "MODELS",
    "NOISE_DISTS",
    "Ensemble",
    "NoiseSample",
    "NoisyGRU",
    "NoisyRNN",
    "NoisyRecurrentBase",
    "build_model",
    "sample_noise",
]

#: ``rnn.model`` value -> model class.
MODELS: dict[str, type[NoisyRecurrentBase]] = {DEFAULT_MODEL: NoisyRNN, "gru": NoisyGRU}

# Keys of the ``rnn`` node that go to the constructor (``model`` selects the class).
_KEYS = (
    "n_in", "n_rec", "n_out", "n_init", "sigma2_in", "sigma2_rec", "sigma2_out",
    "dt", "tau", "bias", "activation_fn", "noise_dist",
)  # fmt: skip


def build_model(rnn_cfg: Mapping[str, Any], generator: torch.Generator | None) -> NoisyRecurrentBase:
    """Build the model the ``rnn`` config node describes.

    Args:
        rnn_cfg: the ``rnn`` node (an omegaconf ``DictConfig`` or any mapping) with ``model`` (``vanilla`` or
            ``gru``; default ``vanilla``) and the constructor keys ``n_in``, ``n_rec``, ``n_out``, ``n_init``,
            ``sigma2_in``, ``sigma2_rec``, ``sigma2_out``, ``dt``, ``tau``, ``bias``, ``activation_fn``,
            ``noise_dist`` (missing optional keys take the constructor defaults).
        generator: random stream of the weight init.

    Returns:
        A :class:`NoisyRNN` or :class:`NoisyGRU`.

    Raises:
        ConfigError: on an unknown model, an unknown key (typos are caught, not ignored) or an invalid value.
    """
    keys = list(rnn_cfg.keys())
    unknown = [key for key in keys if key != "model" and key not in _KEYS]
    if unknown:
        raise ConfigError(f"unknown rnn key(s) {', '.join(map(str, unknown))}; allowed keys: model, {', '.join(_KEYS)}")
    kwargs = {}
    for key in keys:
        try:
            kwargs[key] = rnn_cfg[key]  # reading resolves omegaconf interpolations
        except OmegaConfBaseException as error:  # a '???' value or a broken interpolation
            raise ConfigError(f"rnn.{key} could not be read: {error}") from error
    name = kwargs.pop("model", DEFAULT_MODEL)
    if name not in MODELS:
        raise ConfigError(f"rnn.model = {name!r} is not allowed; choose one of {', '.join(MODELS)}")
    missing = [key for key in ("n_in", "n_rec", "n_out", "n_init") if key not in kwargs]
    if missing:
        raise ConfigError(f"rnn config is missing required key(s) {', '.join(missing)}")
    return MODELS[name](**kwargs, generator=generator)

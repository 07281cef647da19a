"""reactivation: offline reactivation in noisy recurrent networks trained on path integration.

Re-implements the experiments of Krishna et al., "Sufficient conditions for offline reactivation in
recurrent neural networks" (ICLR 2024): tasks, population codes, noisy RNN/GRU models, training,
quiescence and analyses.
"""

__version__ = "0.1.0"

#: The four training conditions of every task (noise × bias), in the paper's order. A task's presets are named
#: after them: ``reactivation/configs/train/config/<task>/<condition>[_<model>].yaml``.
CONDITIONS: tuple[str, ...] = ("noisy_unbiased", "noisy_biased", "no-noise_unbiased", "no-noise_biased")
#: The noisy conditions: the networks whose states the figures show.
NOISY_CONDITIONS: tuple[str, ...] = CONDITIONS[:2]
#: The KL table's rows besides the conditions' quiescence: the untrained network and the uniform density.
KL_BASELINES: tuple[str, ...] = ("random", "uniform")
#: The KL table's rows (quiescent) in the paper's heat-map order; its columns (active) are :data:`CONDITIONS`.
KL_ROWS: tuple[str, ...] = (*CONDITIONS, *KL_BASELINES)
#: The model family a config gets when it names none (``rnn.model``), and whose preset, result and figure names
#: carry no suffix (:func:`reactivation.config.model_suffix`).
DEFAULT_MODEL = "vanilla"


class ReactivationError(Exception):
    """A problem the user can fix (bad configuration, missing run, unreadable file).

    The message names the problem and the fix; entry points print it without a traceback.
    """


class ConfigError(ReactivationError, ValueError):
    """An invalid configuration value, caught before any work starts."""

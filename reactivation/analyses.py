"""The one list of analyses (the modules of :mod:`reactivation.analysis` that write results): :data:`ANALYSES`, from
which the command line, the reproduction pipeline, the campaign, the figures and the result checks take theirs.

An analysis is a module ``reactivation.analysis.<name>`` with

- ``run(s: Settings) -> dict``: computes it for one seed and family, writes its result file and returns
  ``{"path": <file>, <name>: <result>}``;
- ``result_problem(data, conditions) -> str | None``: what makes ``data`` not a result of it for these conditions
  (``None``: nothing), built from the checks in :mod:`reactivation.analysis.results`;

and a config ``reactivation/configs/analysis/<name>.yaml``. Its entry here gives its name, the command list's line,
and whether it takes a quiescence ``mode``. The entries name their modules rather than import them, so that
listing the commands (``reactivation --help``) does not load torch; a module is imported when it is first run or
checked (this module lives outside that package, whose import loads numpy and scipy).
docs/adding-an-analysis.md walks through adding one.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = ["ANALYSES", "NAMES", "PAPER", "Analysis", "get"]


@dataclass(frozen=True)
class Analysis:
    """One analysis (module docstring).

    Attributes:
        name: the command (``reactivation <name>``), the module and config names, and the result's kind.
        summary: the command list's line.
        takes_mode: whether it runs quiescence in the ``mode`` of its settings; ``False`` for one that sets the
            quiescent noise itself (the temperature sweep), whose figures and reports then read it without one.
        extra: the optional extra it needs (``pip install 'reactivation[<extra>]'``), or ``None``. Such an analysis
            is not one of the paper's: ``reproduce`` and the campaign run only :data:`PAPER`, and the figures draw
            it where its result exists without listing it as missing.
    """

    name: str
    summary: str
    takes_mode: bool = True
    extra: str | None = None

    @property
    def module(self) -> ModuleType:
        """``reactivation.analysis.<name>``, imported on first use."""
        return importlib.import_module(f"reactivation.analysis.{self.name}")

    def run(self, s: Any) -> dict:
        """Compute and write the analysis for the settings ``s`` (:func:`reactivation.analysis.settings.settings`)."""
        return dict(self.module.run(s))

    def problem(self, data: Any, conditions: list[str]) -> str | None:
        """What makes ``data`` not a result of this analysis for ``conditions``; ``None`` if nothing."""
        found = self.module.result_problem(data, conditions)
        return None if found is None else str(found)

    @property
    def script(self) -> str:
        """The checkout's spelling of its command."""
        return f"python output_{self.name}.py"


#: Every analysis, in the order the reproduction and the campaign run them.
ANALYSES: tuple[Analysis, ...] = (
    Analysis("kl", "KL(quiescent ‖ active) between decoded-output distributions"),
    Analysis("variance", "how widely the quiescent decoded outputs spread"),
    Analysis("distance", "mean step length of decoded outputs, active vs quiescent"),
    Analysis("manifold", "quiescent hidden states in the active principal subspace"),
    Analysis("drift", "theory: the zero-input drift against the score s² ∇ log p of the active states"),
    Analysis("temperature", "theory: KL and spread against the quiescent noise factor c", takes_mode=False),
    Analysis("diffusion", "theory: diffusive or sequential? MSD exponent, steps, autocorrelation"),
    Analysis(
        "replay", "replay as on real data: spikes, a decoder, continuous / fragmented / stationary", extra="replay"
    ),
)
#: Their names, in order.
NAMES: tuple[str, ...] = tuple(a.name for a in ANALYSES)
#: The paper's analyses (those without an extra), which ``reproduce`` and the campaign run, in order.
PAPER: tuple[Analysis, ...] = tuple(a for a in ANALYSES if a.extra is None)


def get(name: str) -> Analysis:
    """The analysis called ``name``.

    Raises:
        KeyError: naming the analyses there are.
    """
    for analysis in ANALYSES:
        if analysis.name == name:
            return analysis
    raise KeyError(f"{name!r} is not an analysis; the analyses are {', '.join(NAMES)}")

"""The configs the stages of ``reactivation reproduce`` read, derived from the (checked) reproduce config: one per
analysis, family and seed, and one reproduce config per variant."""

from __future__ import annotations

from typing import cast

from omegaconf import DictConfig, OmegaConf

from reactivation.analysis import claims
from reactivation.analysis.settings import compose_analysis


def variants(cfg: DictConfig | dict) -> dict[str, list[str]]:
    """``{variant: its train.py overrides}``, each after the common ``train_overrides``; ``{"": train_overrides}``
    when there are no variants."""
    common = list(cfg["train_overrides"])
    if not cfg["variants"]:
        return {"": common}
    return {str(name): [*common, *overrides] for name, overrides in cfg["variants"].items()}


def variant_config(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """``cfg`` with ``train_overrides`` set to one variant's (the stages read it from there)."""
    one = cast(DictConfig, OmegaConf.create(OmegaConf.to_container(cfg)))
    one.train_overrides, one.variants = list(overrides), None
    OmegaConf.set_struct(one, True)
    return one


def analysis_config(cfg: DictConfig, name: str, family: str, seed: int | None) -> DictConfig:
    """The config of analysis ``name`` (or of the figures) for one family and seed, with the settings of ``cfg``'s
    ``analyses`` block (the figures read the results those settings make)."""
    task, model = claims.FAMILY_KEYS[family]
    block = OmegaConf.to_container(cfg.analyses) if "analyses" in cfg else {}
    assert isinstance(block, dict)
    own = {k: v for k, v in (block.get(name) or {}).items() if v is not None}
    return compose_analysis(
        name,
        cfg.scale,
        task,
        model,
        seed,
        path=cfg.path,
        device=cfg.device,
        progress=bool(cfg.progress),
        train_overrides=list(cfg.train_overrides),
        **({"analyses": block} if name == "figures" else own),
    )

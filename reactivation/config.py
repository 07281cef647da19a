"""Configuration checks: presets, command-line keys and values, before any work starts.

Hydra reports a missing or misspelt preset without listing the presets (they live in subfolders),
reports a missing ``seed`` only when it is first read, and suggests ``+key=`` for a typo'd key.
:func:`preflight` checks the command line first and says what to type instead; :func:`validate`
checks the composed values.
"""

from __future__ import annotations

import difflib
import itertools
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, cast

import yaml
from omegaconf import DictConfig, OmegaConf, open_dict

from reactivation import CONDITIONS, ConfigError, runs, usage
from reactivation.precision import PRECISIONS
from reactivation.tasks import TASKS
from reactivation.values import as_typed, is_int, is_number, is_positive_int

# The configs ship inside the package, so an installed wheel finds them wherever it runs.
TRAIN_CONFIG_DIR = Path(__file__).resolve().parent / "configs" / "train"
ANALYSIS_CONFIG_DIR = TRAIN_CONFIG_DIR.parent / "analysis"


def _runtime_keys() -> tuple[str, ...]:
    # reactivation/configs/train/train.yaml says which keys stay out of a run directory's name (they do not change what
    # is trained); that list is the one place of this fact, read here rather than written again.
    train_yaml = yaml.safe_load((TRAIN_CONFIG_DIR / "train.yaml").read_text())
    excluded = train_yaml["hydra"]["job"]["config"]["override_dirname"]["exclude_keys"]
    return tuple(k for k in excluded if k not in ("config", "seed"))  # these two name the directory themselves


#: Keys that do not change what is trained: device, resume, path, scale (the sizes themselves are compared),
#: trainer.progress. Left out of run-directory names and of the comparison of a run with a command.
RUNTIME_KEYS = _runtime_keys()

#: Training keys added after runs were first trained, with the value every run that lacks them was trained with: a
#: saved config without one reads as having it, so older runs still resume, and analyses still find them.
ADDED_KEYS: dict[str, Any] = {
    "trainer.matmul_precision": "float32",
    # spatial navigation's motion model (docs/ratinabox.md); a config of another task reads them on both sides of a
    # comparison, so they change nothing there
    "task.motion": "generator",
    "task.ratinabox_agents": 20,
    "task.ratinabox_steps": 2000,
}

# Config groups of reactivation/configs/train; `key=value` for these selects a part instead of setting a value.
_GROUPS = ("config", "task", "model", "noise", "bias", "scale", "sizes", "logger")


def is_runtime_key(key: str) -> bool:
    """Whether the dotted ``key`` (``logger.dir``) is one of :data:`RUNTIME_KEYS` or lies inside one (``logger``)."""
    parts = key.split(".")
    return any(".".join(parts[:n]) in RUNTIME_KEYS for n in range(1, len(parts) + 1))


def logger_choices(config_dir: Path = TRAIN_CONFIG_DIR) -> list[str]:
    """The options of the ``logger`` group (reactivation/configs/train/logger/)."""
    return sorted(p.stem for p in (Path(config_dir) / "logger").glob("*.yaml"))


def _run_subdir(override_dirname: str) -> str:
    # Overrides that change the run get their own folder level; a plain preset run has none.
    return f"{override_dirname.replace('/', '_')}/" if override_dirname else ""


#: The environment variable naming the user's own preset directories (several separated by ``os.pathsep``).
PRESETS_ENV = "REACTIVATION_PRESETS"


def user_config_dirs() -> list[Path]:
    """The directories of ``REACTIVATION_PRESETS``, each laid out like reactivation/configs/train.

    A directory holds presets as ``<dir>/config/<folder>/<name>.yaml`` (and may hold other groups, such as
    ``noise/``). Hydra searches them after the package's configs (``hydra.searchpath`` in train.yaml).

    Raises:
        ConfigError: a directory that does not exist or has no ``config/`` folder.
    """
    dirs = []
    for part in os.environ.get(PRESETS_ENV, "").split(os.pathsep):
        if not part.strip():
            continue
        path = Path(part).expanduser().resolve()
        if not (path / "config").is_dir():
            raise ConfigError(
                f"{PRESETS_ENV} names {part}, which has no config/ folder of presets. A presets directory is laid "
                f"out like reactivation/configs/train: <dir>/config/<folder>/<preset>.yaml. Fix it, or unset "
                f"{PRESETS_ENV}."
            )
        dirs.append(path)
    return dirs


def _search_path() -> list[str]:
    return [f"file://{d}" for d in user_config_dirs()]


def register_resolvers() -> None:
    """Register the resolvers the configs use (idempotent)."""
    if not OmegaConf.has_resolver("run_subdir"):
        OmegaConf.register_new_resolver("run_subdir", _run_subdir)
    if not OmegaConf.has_resolver("user_presets"):
        OmegaConf.register_new_resolver("user_presets", _search_path)


def _check_user_preset(name: str) -> None:
    """Refuse a user preset file that is valid YAML but not a mapping of keys (a list, a number, a string).

    Hydra would compose such a file as nothing and train the defaults under the preset's name. An empty file is a
    preset that changes nothing, which is allowed.

    Raises:
        ConfigError: naming the file and what it holds.
    """
    for root in user_config_dirs():
        path = root / "config" / f"{name}.yaml"
        if not path.is_file():
            continue
        try:
            with open(path) as f:  # a stream, not its text: the parser's marks then name the file
                content = yaml.safe_load(f)
        except yaml.YAMLError as err:
            raise ConfigError(yaml_problem(err)) from None
        except OSError as err:
            raise ConfigError(f"the preset file {path} cannot be read ({err.strerror}).") from None
        if content is not None and not isinstance(content, dict):
            raise ConfigError(
                f"{path} (a file of {PRESETS_ENV}) holds a {type(content).__name__}, not a mapping of keys: a preset "
                "is '# @package _global_', a defaults list naming the preset it starts from, and the keys it "
                'changes (README, "Your own presets"). Fix the file and run again.'
            )
        return


def _preset_names(config_dir: Path) -> set[str]:
    root = config_dir / "config"
    return {p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml")}


def presets(config_dir: Path = TRAIN_CONFIG_DIR) -> list[str]:
    """Names accepted by ``config=``, e.g. ``spatial_navigation/noisy_unbiased``, sorted: the presets of
    ``config_dir`` and of the user's directories (:func:`user_config_dirs`).

    Raises:
        ConfigError: a user preset with the name of another preset (Hydra would silently take the first).
    """
    names = _preset_names(config_dir)
    for user_dir in user_config_dirs():
        theirs = _preset_names(user_dir)
        if names & theirs:
            raise ConfigError(
                f"{user_dir} ({PRESETS_ENV}) has presets named like existing ones, which would never be used: "
                f"{', '.join(sorted(names & theirs))}. Rename them (e.g. put them in a folder of your own)."
            )
        names |= theirs
    return sorted(names)


def families(config_dir: Path = TRAIN_CONFIG_DIR) -> dict[tuple[str, str], dict[str, str]]:
    """Every (task, model family) with presets, and its conditions: ``{(task, model): {condition: preset}}``.

    Read from the preset files, so a new task's presets are found without a list to edit: ``<task>/<condition>``
    is the vanilla RNN's preset of a condition (:data:`reactivation.CONDITIONS`), ``<task>/<condition>_<model>``
    another model family's (e.g. ``spatial_navigation/noisy_biased_gru``). Other presets (such as
    ``spatial_navigation/sorscher_2019``) and presets outside a task's folder belong to no family. The user's presets
    (:func:`user_config_dirs`) count too.
    """
    found: dict[tuple[str, str], dict[str, str]] = {}
    for preset in presets(config_dir):
        task, _, name = preset.rpartition("/")
        if task not in TASKS:  # a family is a task's: the analyses ask the task for its geometry
            continue
        for condition in CONDITIONS:
            if name == condition or name.startswith(condition + "_"):
                model = name[len(condition) + 1 :] or "vanilla"
                found.setdefault((task, model), {})[condition] = preset
    # Tasks in the registry's order (vanilla RNNs first) and conditions in the paper's, whatever the file system's.
    order = {task: i for i, task in enumerate(TASKS)}

    def rank(family: tuple[str, str]) -> tuple:
        task, model = family
        return order.get(task, len(order)), task, model != "vanilla", model

    return {
        family: {c: found[family][c] for c in CONDITIONS if c in found[family]} for family in sorted(found, key=rank)
    }


def preset_noise(task: str, config_dir: Path = TRAIN_CONFIG_DIR) -> float:
    """The recurrent noise variance ``rnn.sigma2_rec`` of a task's noisy presets (``noise/<task>/noisy.yaml``).

    Raises:
        ConfigError: the task has no such file, or it sets no finite ``sigma2_rec``.
    """
    path = config_dir / "noise" / task / "noisy.yaml"
    try:
        value = (yaml.safe_load(path.read_text()) or {}).get("sigma2_rec")
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(
            f"task {task!r} has no readable noise config {path} ({err}); a task's noisy presets "
            "take their noise from it."
        ) from err
    if not is_number(value) or not math.isfinite(value):
        raise ConfigError(f"{path} must set sigma2_rec to a finite variance; got {value!r}")
    return float(value)


def leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict flattened to ``{"rnn.n_rec": 512, ...}`` (dotted keys of its non-dict values)."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(leaves(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _parse(argv: list[str]) -> list | None:
    """The key=value overrides of a command line, parsed by Hydra; None when asking for help.

    Raises:
        ConfigError: an argument Hydra cannot parse, naming it.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    if any(a in ("-h", "--help", "--hydra-help", "--info", "-i") or a.startswith("--info") for a in argv):
        return None
    parser = OverridesParser.create()
    overrides = []
    # Flags such as -m / --cfg job take no `=`; key=value arguments and ~key deletions are overrides.
    for arg in (a for a in argv if not a.startswith("-") and ("=" in a or a.startswith("~"))):
        if not arg.split("=", 1)[0].lstrip("+~"):
            raise ConfigError(f"the argument {arg!r} has no key; write key=value, e.g. trainer.lr=0.01.")
        try:
            overrides += parser.parse_overrides([arg])
        except HydraException as err:
            reason = " ".join(str(err).split())
            raise ConfigError(
                f"cannot read the argument {arg!r} ({reason[:300]}). Write key=value, e.g. "
                "trainer.lr=0.01; quote values with spaces or brackets for the shell."
            ) from None
    return overrides


def _check_keys(overrides: list, base: DictConfig, groups: Iterable[str], listing: str) -> None:
    """Raise ConfigError for the first override whose key ``base`` does not have, added with ``+`` or not.

    Nothing reads a key the configs do not define, so ``+trainer.n_epoch=5`` (a typo) would be accepted and
    ignored; ``~key`` would remove a key the run needs.
    """
    known = list(leaves(OmegaConf.to_container(base)))
    sentinel = object()
    for o in overrides:
        key = o.key_or_group
        if o.package is not None or key in groups or key.startswith("hydra"):
            continue
        exists = OmegaConf.select(base, key, default=sentinel, throw_on_missing=False) is not sentinel
        if o.is_delete():
            raise ConfigError(f"~{key} removes a key that every run needs; set it instead ({key}=...).")
        if not exists:
            added = "+" if o.is_add() else ""
            raise ConfigError(
                f"unknown key '{added}{key}': nothing reads it, so it would be ignored."
                f"{_suggest(key, known)} Run `{listing}` to list every key."
            )
        if o.is_add() and not o.is_force_add():
            raise ConfigError(f"+{key}: the key exists already; set it without the '+' ({key}=...).")


def preflight(
    argv: list[str], config_dir: Path = TRAIN_CONFIG_DIR, check: Callable[[DictConfig], Any] | None = None
) -> None:
    """Check a training command line before Hydra composes it, or writes anything.

    Every run of the command (each combination of a ``-m`` sweep) is composed and checked: values
    resolve, have the type of their default, pass :func:`validate` and ``check``, and ``path`` can hold runs.

    Args:
        argv: the command-line arguments (``sys.argv[1:]``).
        config_dir: the training config directory.
        check: a further check of each composed config (train.py passes ``loading.build``, which builds
            the task and model and so checks every ``rnn.*`` and ``task.*`` value).

    Raises:
        ConfigError: missing ``config=`` or ``seed=``, an unknown preset or key, an argument that selects a
            part of a preset, an unparsable argument or a bad value, with the choices and the closest matches.
    """
    overrides = _parse(argv)
    if overrides is None:
        return
    by_key = {o.key_or_group: o for o in overrides}
    names = presets(config_dir)
    train = usage.command("train")
    example = f"{train} config=spatial_navigation/noisy_unbiased seed=0"

    if "config" not in by_key:
        raise ConfigError(
            "no preset given: add config=<task>/<preset>, e.g.\n  "
            + example
            + "\nAvailable presets:\n  "
            + "\n  ".join(names)
        )
    chosen = _override_values(by_key["config"])
    for name in chosen or []:
        if name not in names:
            raise ConfigError(
                f"unknown preset config={name}.{_suggest(name, names)}\nAvailable presets:\n  "
                + "\n  ".join(names)
                + f'\nPresets of your own: put them in a directory and name it in {PRESETS_ENV} (README, "Your own '
                'presets").'
            )
        _check_user_preset(name)
    if "seed" not in by_key:
        raise ConfigError(f"no seed given: add seed=<integer> (seed=0 is a seed), e.g.\n  {example}")
    logger = _override_values(by_key["logger"]) if "logger" in by_key else ["none"]
    known = logger_choices(config_dir)
    for name in logger or []:
        if name not in known:
            raise ConfigError(
                f"unknown logger={name}.{_suggest(name, known)} Choose one of {', '.join(known)} (docs/loggers.md)."
            )
    # Composed with the chosen logger, whose own keys (logger.tracking_uri, ...) the check then knows.
    base = compose_train(
        [f"config={chosen[0] if chosen else names[0]}", "seed=0", f"logger={(logger or ['none'])[0]}"], config_dir
    )
    _check_keys(overrides, base, _GROUPS, f"{train} config=<preset> seed=0 --cfg job")
    for o in overrides:
        if o.key_or_group in _PARTS and o.package is None:
            raise ConfigError(
                f"{o.key_or_group}={o.get_value_element_as_str()} would swap a part of the preset, whose name would "
                f"then describe another run. Choose the preset that has it (config=...; `{train} seed=0` "
                f"lists them), or override single keys (e.g. task.biased=true, "
                f"rnn.sigma2_rec=0.0001)."
            )
    defaults: dict[tuple[str, ...], dict[str, Any]] = {}
    checked: set[str] = set()
    for run in _expand([o for o in overrides if not o.key_or_group.startswith("hydra")]):
        cfg = _compose_checked(run, config_dir)
        run_dir = Path(cfg.hydra.run.dir)
        with open_dict(cfg):
            del cfg["hydra"]
        # The defaults a message quotes are those of the preset at the run's own scale (scale=tiny: its sizes).
        base_of_run = (f"config={_value_of(run, 'config')}", *(a for a in run if a.split("=", 1)[0] in _SIZING))
        if base_of_run not in defaults:
            defaults[base_of_run] = leaves(resolved(compose_train([*base_of_run, "seed=0"], config_dir)))
        _check_types(leaves(resolved(cfg)), defaults[base_of_run], leaves(OmegaConf.to_container(cfg, resolve=False)))
        validate(cfg)
        # The runs of a seed sweep differ only in what seeds draw: building one of them checks them all.
        unseeded = OmegaConf.to_yaml({k: v for k, v in cfg.items() if k != "seed"})
        if check is not None and unseeded not in checked:
            check(cfg)
            checked.add(unseeded)
        results_root(cfg.path)
        # Refused here, before Hydra composes the run; a command that gets past this check at the same moment as
        # another is refused by training's lock, before it writes anything (hydra_record).
        holder = runs.RunLock.holder(run_dir)
        if holder is not None:
            raise runs.busy(run_dir, holder)


def hydra_record(cfg: DictConfig) -> dict[str, str]:
    """The record of the running Hydra job, as Hydra writes it into ``.hydra/``: ``{file name: YAML text}``.

    train.yaml sets ``hydra.output_subdir`` to null, so Hydra writes none of it; training writes it into the run
    directory once it holds the run's lock (:func:`reactivation.runs.write_record`).

    Args:
        cfg: the job's config, without its ``hydra`` node (what the task function receives).
    """
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.instance().cfg  # {"hydra": ...}, as Hydra saves it in hydra.yaml
    assert hydra_cfg is not None  # set by Hydra before any task function runs
    return {
        "config.yaml": OmegaConf.to_yaml(cfg),
        "hydra.yaml": OmegaConf.to_yaml(hydra_cfg),
        "overrides.yaml": OmegaConf.to_yaml(HydraConfig.get().overrides.task),
    }


def _compose_checked(run: list[str], config_dir: Path) -> DictConfig:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return compose_train(run, config_dir, with_hydra=True)
    except ConfigError:  # already says what is wrong (a preset file that is not YAML)
        raise
    except (HydraException, OmegaConfBaseException, ValueError) as err:
        reason = " ".join(str(err).split())[:300]
        raise ConfigError(f"the command line {' '.join(run)} does not make a config ({reason}).") from None


#: Groups that make up a preset; swapping one would train another run under the preset's name.
_PARTS = ("task", "model", "noise", "bias")
#: Groups that set a preset's sizes (the defaults a type error quotes).
_SIZING = ("scale", "sizes")


def _value_of(run: list[str], key: str) -> str:
    return next(a.split("=", 1)[1] for a in run if a.split("=", 1)[0] == key)


def _expand(overrides: list) -> list[list[str]]:
    """Each run of a (``-m``) command line as a list of ``key=value`` strings: the product of the sweeps."""
    choices = []
    for o in overrides:
        key = o.get_key_element()
        if o.is_sweep_override() and o.is_discrete_sweep():
            choices.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        elif o.is_sweep_override():  # interval sweeps (optimisers' ranges) are not ours to check
            return []
        else:
            choices.append([f"{key}={o.get_value_element_as_str()}"])
    return [list(run) for run in itertools.product(*choices)]


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """``cfg`` as plain values, every interpolation resolved.

    Raises:
        ConfigError: an interpolation that cannot be resolved (an unknown resolver, a missing environment
            variable, a key that refers to itself), naming the key.
    """
    from omegaconf.errors import OmegaConfBaseException

    try:
        container = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", "") or "?"
        reason = str(err).splitlines()[0]
        raise ConfigError(
            f"{key}: its value cannot be resolved ({reason}). Give a plain value on the command line ({key}=...)."
        ) from None
    return cast(dict[str, Any], container)  # the container of a DictConfig is a str-keyed dict


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else type(value).__name__


def _check_types(values: dict[str, Any], defaults: dict[str, Any], typed: dict[str, Any] | None = None) -> None:
    """Every value must be of its default's kind (an integer where the default is one) and finite.

    Hydra turns ``trainer.lr=fast`` into the string 'fast' and ``${oc.env:HOME}`` into a path; caught here,
    they name their key (and what was typed, when it was an interpolation) instead of failing deep inside training.

    Args:
        values: resolved ``{dotted key: value}``.
        defaults: the preset's resolved values, whose kinds are the allowed ones.
        typed: the unresolved values, to show an interpolation as it was written.
    """
    for key, value in values.items():
        default = defaults.get(key)
        shown = as_typed(repr(value), (typed or {}).get(key))
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{key}={shown} is not allowed; it must be a finite number.")
        if default is None or key == "preset":  # null defaults (sizes that follow the task) are checked by the model
            continue
        if is_int(default):
            ok, kind = is_int(value), "an integer"
        else:
            ok = _kind(value) == _kind(default)
            kind = _kind(default)
        if not ok:
            raise ConfigError(f"{key}={shown} is not allowed; it must be {kind}, like its default {default!r}.")


def absolute(path: str | Path) -> Path:
    """``path`` against the current working directory (``~`` expanded, ``..`` folded, symlinks kept).

    Hydra 1.3 leaves the working directory alone here (``hydra.run.dir: .``), so a relative ``path=`` means the
    caller's directory; made absolute once, it means the same folder for every child process and message.
    """
    return Path(os.path.abspath(os.path.expanduser(str(path))))


def results_root(path: Any) -> Path:
    """:func:`absolute` ``path``, checked to be a folder (or a place where one can be made) this user may write to.

    Raises:
        ConfigError: ``path`` or a folder above it is a file, or the folder is not writable.
    """
    target = absolute(path)
    existing = next(p for p in (target, *target.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"path={path}: {existing} is a file, not a folder; choose another path=.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"path={path}: {existing} is not writable (read-only or not yours); choose another path=.")
    return target


def preflight_analysis(
    argv: list[str],
    name: str,
    config_dir: Path = ANALYSIS_CONFIG_DIR,
    script: str | None = None,
    require_seed: bool = True,
) -> None:
    """Check an analysis command line (``output_<name>.py``) before Hydra composes it.

    Raises:
        ConfigError: missing ``seed=`` (when required) or an unknown key, with the closest matches.
    """
    overrides = _parse(argv)
    if overrides is None:
        return
    script = script or usage.command(name)
    if require_seed and "seed" not in {o.key_or_group for o in overrides}:
        raise ConfigError(f"no seed given: add seed=<integer>, e.g.\n  {script} seed=0")
    example = ["seed=0"] if require_seed else []
    base = compose_config(config_dir, name, example)
    _check_keys(overrides, base, ("scale",), " ".join([script, *example, "--cfg job"]))


def yaml_problem(err: yaml.YAMLError) -> str:
    """One line naming the config file ``err`` was raised for, where in it, and what the parser expected.

    A file of the user's preset directories (:func:`user_config_dirs`) is said to be one, so that a user who has
    never opened reactivation's own configs knows which file is theirs to fix.
    """
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    name = getattr(mark, "name", "") or ""
    if not name or name.startswith("<"):  # parsed from a string, not a file
        return f"a config is not valid YAML ({' '.join(str(err).split())[:300]}). Fix it."
    where = Path(name)
    problem = ": ".join(filter(None, [getattr(err, "context", None), getattr(err, "problem", None)]))
    # Marks count lines and columns from 0; editors count them from 1.
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    named = [Path(p).expanduser().resolve() for p in os.environ.get(PRESETS_ENV, "").split(os.pathsep) if p.strip()]
    users = [d for d in named if d == where or d in where.parents]
    whose = f" (a file of {PRESETS_ENV}={users[0]})" if users else ""
    return f"{where}{whose} is not valid YAML: {problem or 'cannot be parsed'}{at}. Fix the file and run again."


def compose_config(config_dir: Path, name: str, overrides: list[str], with_hydra: bool = False) -> DictConfig:
    """Compose config ``name`` of ``config_dir`` as a script would for these command-line overrides.

    Works inside a running Hydra app too (an analysis script composing training configs).

    Raises:
        ConfigError: a config file of the composition (a user preset, most likely) is not valid YAML.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_resolvers()
    # Inside a running Hydra app the global Hydra instance is taken: set it aside for this composition.
    running = GlobalHydra.instance().hydra if GlobalHydra.instance().is_initialized() else None
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(Path(config_dir).resolve()), version_base="1.3"):
            return compose(name, overrides=list(overrides), return_hydra_config=with_hydra)
    except yaml.YAMLError as err:  # Hydra lets the parser's error of a config file through, with its stack
        raise ConfigError(yaml_problem(err)) from None
    finally:
        if running is not None:  # the context manager swaps the singleton: fetch it again
            GlobalHydra.instance().clear()
            GlobalHydra.instance().initialize(running)


def compose_train(overrides: list[str], config_dir: Path = TRAIN_CONFIG_DIR, with_hydra: bool = False) -> DictConfig:
    """Compose the training config as ``train.py`` would for these command-line overrides.

    Args:
        overrides: e.g. ``["config=spatial_navigation/noisy_unbiased", "seed=0", "rnn.n_rec=64"]``.
        config_dir: the training config directory.
        with_hydra: keep the ``hydra`` node (``cfg.hydra.run.dir`` is then the run directory).
    """
    return compose_config(config_dir, "train", overrides, with_hydra)


def _override_values(override: Any) -> list[str] | None:
    """The preset names of a `config=` override (several for a sweep), or None for globs/ranges."""
    if override.is_sweep_override():
        try:
            return [str(v) for v in override.sweep_string_iterator()]
        except Exception:  # glob() or range(): Hydra itself checks those
            return None
    return [str(override.value())]


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def validate(cfg: DictConfig) -> None:
    """Check the values of a composed training config.

    Raises:
        ConfigError: naming the key, the bad value and what is allowed.
    """
    _require(
        not OmegaConf.is_missing(cfg, "seed"),
        "seed is required: add seed=<integer> to the command line (seed=0 is a seed).",
    )
    seed = cfg.seed
    _require(is_int(seed) and seed >= 0, f"seed must be a non-negative integer, got {seed!r}.")
    # rnn.* values are checked by the model's constructor (also before any work starts).
    trainer, task = cfg.trainer, cfg.task
    for key in ("n_epochs", "test_freq", "save_freq", "decode_freq"):
        _require(is_positive_int(trainer[key]), f"trainer.{key}={trainer[key]!r} must be a positive integer.")
    _require(trainer.lr > 0, f"trainer.lr={trainer.lr!r} must be > 0.")
    _require(trainer.weight_decay >= 0, f"trainer.weight_decay={trainer.weight_decay!r} must be >= 0.")
    precision = trainer.get("matmul_precision", "float32")  # absent from the configs of runs older than the key
    _require(
        precision in PRECISIONS,
        f"trainer.matmul_precision={precision!r} is not a precision; choose one of {', '.join(PRECISIONS)}.",
    )
    _require(
        is_positive_int(task.get("batch_size")),
        f"task.batch_size={task.get('batch_size')!r} must be a positive integer.",
    )  # the trainer's, not the task's
    # Every other task value is the task's own, checked by its builder (reactivation.tasks.build_task).


def resolve_sizes(cfg: DictConfig, n_in: int, n_code: int) -> None:
    """Fill ``rnn.n_out`` / ``rnn.n_init`` (null = the task's cell count) and check sizes, in place.

    Args:
        cfg: the training config (modified in place).
        n_in: input dimension of the task.
        n_code: number of units of the task's population code.
    """
    fix = "leave it unset (null) to follow the task"
    _require(
        cfg.rnn.n_in == n_in,
        f"rnn.n_in={cfg.rnn.n_in} but the {cfg.task.name} task gives {n_in}-D inputs; set rnn.n_in={n_in}.",
    )
    for key in ("n_out", "n_init"):
        if cfg.rnn[key] is None:
            cfg.rnn[key] = n_code
        _require(
            cfg.rnn[key] == n_code,
            f"rnn.{key}={cfg.rnn[key]} does not match the task's {n_code} cells; set rnn.{key}={n_code} or {fix}.",
        )

"""The paper-scale campaign (docs/campaign.md): its store's format, the page rebuilt from the committed store, the
budget, and the rule that lets noise-free runs serve every noise distribution."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from reactivation import ConfigError, ReactivationError, analyses, runs
from reactivation.analysis import lookup, settings
from reactivation.config import ANALYSIS_CONFIG_DIR, compose_config, compose_train
from reactivation.evidence import campaign, page, store
from reactivation.loading import load_run
from reactivation.training import train
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "evidence" / "paper"
PAGE = ROOT / "docs" / "reproduction-paper.md"
HD_NOISE_FREE = "head_direction/no-noise_biased"


def test_the_committed_page_is_rebuilt_from_the_committed_store_alone():
    # The page is a function of the store: a changed store, page or renderer without the other fails here.
    assert page.render(STORE, campaign.PLAN) == PAGE.read_text(), "rebuild it: reactivation campaign stages=[report]"


def test_the_committed_store_is_sound():
    assert store.problems(STORE) == []
    for entry in store.entries(STORE):
        assert entry.manifest["preset"] in {n.preset for n in campaign.PLAN}
        # nothing half-trained: the one checkpoint is the final step of the paper's schedule, and no step checkpoint
        assert runs.saved_checkpoints(entry.path) == {entry.steps: entry.path / runs.FINAL_WEIGHTS}
        assert [p.name for p in entry.path.rglob("*.pt")] == [runs.FINAL_WEIGHTS]
        assert entry.steps == {"head_direction": 20000}.get(entry.config["task"]["name"], 2500)
        assert str(entry.steps) in entry.trajectory["steps"]


def test_the_plan_has_the_21_networks_of_the_issue_in_priority_order():
    plan = campaign.PLAN
    assert len(plan) == len(set(plan)) == 21
    assert [n.step for n in plan] == sorted(n.step for n in plan)  # a, then b, then c, then e
    assert {str(n) for n in plan if n.step == "a"} == {
        "head_direction/noisy_biased seed=0",
        "head_direction/noisy_unbiased seed=0",
    }
    seed_0 = [n for n in plan if n.step in "ab"]
    assert len({n.preset for n in seed_0}) == len(seed_0) == 11 and {n.seed for n in seed_0} == {0}
    assert {n.seed for n in plan if n.step == "c"} == {1, 2}
    assert all(n.overrides == () for n in plan if n.step != "e")  # the defaults a user gets
    assert {str(n) for n in plan if n.step == "e"} == {
        "head_direction/noisy_biased seed=0 rnn.noise_dist=gaussian",
        "head_direction/noisy_unbiased seed=0 rnn.noise_dist=gaussian",
    }


def test_the_hd_presets_default_to_the_published_uniform_noise_and_the_sn_presets_to_gaussian():
    from reactivation.config import compose_train

    for preset in ("noisy_biased", "noisy_unbiased", "no-noise_biased", "no-noise_unbiased"):
        assert compose_train([f"config=head_direction/{preset}"]).rnn.noise_dist == "uniform"
    assert compose_train(["config=spatial_navigation/noisy_biased"]).rnn.noise_dist == "gaussian"
    assert compose_train(["config=head_direction/noisy_biased", "rnn.noise_dist=gaussian"]).rnn.noise_dist == "gaussian"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2h", 7200),
        ("90min", 5400),
        ("30m", 1800),
        ("45s", 45),
        ("600", 600),
        (1.5, 1.5),
        ("2h20min", 8400),
        ("1h 30m 15s", 5415),
    ],
)
def test_budgets_are_read_in_hours_minutes_or_seconds(text, seconds):
    assert campaign.parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["two hours", "-1h", "1d", "", True, "2h20", "h2"])
def test_a_budget_that_is_not_a_duration_is_refused(text):
    with pytest.raises(ConfigError, match="budget"):
        campaign.parse_budget(text)


def _cfg(*overrides: str):
    return compose_config(ANALYSIS_CONFIG_DIR, "campaign", list(overrides))


@pytest.mark.parametrize(
    ("override", "key"),
    [("threads=0", "threads"), ("stages=[train,plot]", "stages"), ("device=tpu", "device"), ("page=out.txt", "page")],
)
def test_bad_campaign_settings_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key):
        campaign.from_config(_cfg(override), "reactivation campaign")


def test_run_directories_inside_the_store_are_refused(tmp_path):
    cfg = _cfg(f"store={tmp_path}", f"path={tmp_path / 'runs'}")
    with pytest.raises(ConfigError, match="overlap"):
        campaign.from_config(cfg, "reactivation campaign")


def test_measured_steps_fall_on_checkpoints_and_end_at_the_final_step():
    assert campaign.measured_steps(20000, 100) == list(range(2000, 20001, 2000))
    sn = campaign.measured_steps(2500, 100)
    assert sn[-1] == 2500 and all(s % 100 == 0 for s in sn) and len(sn) == 13
    assert campaign.measured_steps(5, 2) == [2, 4, 5]


def _stored_copy(run_dir: Path, tmp_path: Path) -> store.Entry:
    root = tmp_path / "runs"
    copy = root / "head_direction" / "no-noise_biased" / "seed_0"
    shutil.copytree(run_dir, copy)
    manifest = {"preset": HD_NOISE_FREE, "seed": 0, "overrides": [], "command": "reactivation train ..."}
    return store.add(copy, root, tmp_path / "store", {"steps": {"5": {"loss": 0.1}}}, manifest)


def test_a_finished_run_enters_the_store_with_its_final_weights_only(tiny_hd_runs, tmp_path):
    entry = _stored_copy(tiny_hd_runs / HD_NOISE_FREE / "seed_0", tmp_path)
    assert entry.path == tmp_path / "store" / "head_direction" / "no-noise_biased" / "seed_0"
    assert runs.saved_checkpoints(entry.path) == {5: entry.path / runs.FINAL_WEIGHTS}
    assert [p.name for p in entry.path.rglob("*.pt")] == [runs.FINAL_WEIGHTS]  # no step checkpoint, no resume file
    assert set(store.MANIFEST_KEYS) <= set(entry.manifest)
    assert entry.manifest["torch"] == torch.__version__ and entry.manifest["train_wall_s"] >= 0
    assert store.problems(tmp_path / "store") == []
    # the store is a results root: the analyses' lookup finds the network in it
    assert lookup.find_run(tmp_path / "store", HD_NOISE_FREE, 0, TINY, None) == entry.path
    shipped, trained = (
        load_run(d, device="cpu").model.state_dict() for d in (entry.path, tiny_hd_runs / HD_NOISE_FREE / "seed_0")
    )
    assert all(torch.equal(shipped[k], trained[k]) for k in trained)  # and loads the final weights


def test_an_unfinished_run_never_enters_the_store(tiny_hd_runs, tmp_path):
    run_dir = tmp_path / "runs" / "r" / "seed_0"
    shutil.copytree(tiny_hd_runs / HD_NOISE_FREE / "seed_0", run_dir)
    runs.checkpoint_path(run_dir, 5).unlink()
    with pytest.raises(ReactivationError, match="not trained to the end"):
        store.add(run_dir, tmp_path / "runs", tmp_path / "store", {}, {})
    assert not (tmp_path / "store" / "r").exists()


@pytest.mark.parametrize("damage", ["extra checkpoint", "resume file", "manifest key", "torn checkpoint"])
def test_a_damaged_store_entry_is_named(tiny_hd_runs, tmp_path, damage):
    entry = _stored_copy(tiny_hd_runs / HD_NOISE_FREE / "seed_0", tmp_path)
    checkpoints = entry.path / runs.CHECKPOINT_DIR
    checkpoints.mkdir()
    final = entry.path / runs.FINAL_WEIGHTS
    if damage == "extra checkpoint":
        shutil.copy(tiny_hd_runs / HD_NOISE_FREE / "seed_0" / runs.CHECKPOINT_DIR / "step_000002.pt", checkpoints)
    elif damage == "resume file":
        shutil.copy(final, checkpoints / runs.RESUME_FILE)
    elif damage == "manifest key":
        manifest = json.loads((entry.path / store.MANIFEST).read_text())
        del manifest["commit"]
        (entry.path / store.MANIFEST).write_text(json.dumps(manifest))
    else:
        final.write_bytes(b"not a checkpoint")
    found = store.problems(tmp_path / "store")
    assert len(found) == 1 and str(entry.path) in found[0]


def test_a_budget_spent_during_training_stores_nothing_and_leaves_the_run_resumable(tmp_path):
    net = campaign.Network(HD_NOISE_FREE, 0, (), "b")
    cs = campaign.Campaign(
        budget_s=0.5, root=tmp_path / "runs", store=tmp_path / "store", page=None, threads=1, stages=("train",),
        force=False, device="cpu", command="test", plan=(net,), scale="tiny",
    )  # fmt: skip
    assert list(campaign.train_stage(cs, campaign.Clock(cs.budget_s))) == []
    assert campaign.pending(cs.store, cs.plan) == [net]
    assert not cs.store.exists() or store.entries(cs.store) == []


def test_a_family_made_whole_is_analysed_before_the_next_network_trains(tmp_path, monkeypatch):
    """docs/campaign.md step 3: the analyses run as soon as a network is stored, not once the budget is spent
    (a stretch of work that ends during the next hour of training keeps them)."""
    plan = tuple(campaign.Network(f"head_direction/{c}", 0, (), "b") for c in ("noisy_biased", "noisy_unbiased"))
    stored: list[campaign.Network] = []
    events: list[str] = []

    def train_one(net, cs, clock):
        events.append(f"train {net.preset}")
        return tmp_path / net.preset

    def add(run_dir, root, store_dir, trajectory, manifest):
        stored.append(next(n for n in plan if n.preset == manifest["preset"]))
        return store.Entry(path=Path(run_dir), config={}, manifest=manifest)

    monkeypatch.setattr(campaign, "_train_one", train_one)
    monkeypatch.setattr(campaign, "_trajectory", lambda run_dir, net, cs, clock: {"steps": {}})
    monkeypatch.setattr(campaign.store, "add", add)
    monkeypatch.setattr(campaign, "pending", lambda store_dir, plan: [n for n in plan if n not in stored])
    monkeypatch.setattr(campaign, "analyse_stage", lambda cs, clock: events.append("analyse") or [])
    cs = campaign.Campaign(
        budget_s=60, root=tmp_path / "runs", store=tmp_path / "store", page=None, threads=1,
        stages=("train", "analyse"), force=False, device="cpu", command="test", plan=plan, scale="tiny",
    )  # fmt: skip
    campaign.run(cs)
    assert events == [f"train {plan[0].preset}", "analyse", f"train {plan[1].preset}", "analyse", "analyse"]


def test_a_second_campaign_on_the_same_root_is_refused_naming_the_first(tmp_path):
    cs = campaign.Campaign(
        budget_s=60, root=tmp_path / "runs", store=tmp_path / "store", page=None, threads=1, stages=("train",),
        force=False, device="cpu", command="test", plan=(campaign.Network(HD_NOISE_FREE, 0, (), "b"),), scale="tiny",
    )  # fmt: skip
    cs.root.mkdir()
    with runs.RunLock(cs.root):  # a campaign running in another process holds it
        with pytest.raises(ReactivationError, match=r"runs is being written by another process \(pid \d+"):
            campaign.run(cs)
    assert not any(p.is_dir() for p in cs.root.iterdir()) and not cs.store.exists()  # nothing trained or stored


def test_noise_free_training_does_not_depend_on_the_noise_distribution(tiny_config, tmp_path):
    weights = {}
    for dist in ("gaussian", "uniform"):
        run_dir = tmp_path / dist
        train(tiny_config(HD_NOISE_FREE, f"rnn.noise_dist={dist}"), run_dir, preset=HD_NOISE_FREE)
        weights[dist] = torch.load(runs.checkpoint_path(run_dir, 5), weights_only=True)["model"]
    assert weights["gaussian"].keys() == weights["uniform"].keys()
    assert all(torch.equal(weights["gaussian"][k], weights["uniform"][k]) for k in weights["gaussian"])


def _hd_settings(root: Path, *train_overrides: str) -> settings.Settings:
    listed = "[" + ",".join(f'"{o}"' for o in [*TINY, *train_overrides]) + "]"
    cfg = compose_config(
        ANALYSIS_CONFIG_DIR,
        "kl",
        ["seed=0", f"path={root}", "task=head_direction", "progress=false", f"train_overrides={listed}", "device=cpu"],
    )
    return settings.settings(cfg)


def test_a_noise_free_run_serves_every_variant_with_the_family_noise_in_quiescence(tiny_hd_runs):
    s = _hd_settings(tiny_hd_runs, "rnn.noise_dist=gaussian")
    assert "rnn.noise_dist=gaussian" in lookup.run_overrides(s, "noisy_biased")
    assert "rnn.noise_dist=gaussian" not in lookup.run_overrides(s, "no-noise_biased")
    assert lookup.family_noise_dist(s) == "gaussian"
    run_dir = lookup.find_run(tiny_hd_runs, HD_NOISE_FREE, 0, lookup.run_overrides(s, "no-noise_biased"), None)
    assert run_dir == tiny_hd_runs / HD_NOISE_FREE / "seed_0"  # the default run, trained with uniform
    assert runs.load_config(run_dir)["rnn"]["noise_dist"] == "uniform"
    assert lookup.load_condition(s, run_dir).model.noise_dist == "gaussian"
    assert lookup.load_condition(_hd_settings(tiny_hd_runs), run_dir).model.noise_dist == "uniform"


def test_a_noise_free_run_is_found_whichever_distribution_its_config_names(tiny_hd_runs, tmp_path):
    """A noise-free run trained before its preset's default distribution changed still serves the preset."""
    run_dir = tmp_path / HD_NOISE_FREE / "seed_0"
    shutil.copytree(tiny_hd_runs / HD_NOISE_FREE / "seed_0", run_dir)
    config = runs.load_config(run_dir)
    config["rnn"]["noise_dist"] = "gaussian"
    (run_dir / runs.CONFIG_FILE).write_text(OmegaConf.to_yaml(config))
    assert lookup.find_run(tmp_path, HD_NOISE_FREE, 0, list(TINY), None) == run_dir
    # a noisy run's distribution is still compared: the one run found under another noise is no match
    noisy = "head_direction/noisy_biased"
    shutil.copytree(tiny_hd_runs / noisy / "seed_0", tmp_path / noisy / "seed_0")
    assert lookup.find_run(tmp_path, noisy, 0, list(TINY), None) == tmp_path / noisy / "seed_0"
    with pytest.raises(ReactivationError, match="rnn.noise_dist='uniform'"):
        lookup.find_run(tmp_path, noisy, 0, [*TINY, "rnn.noise_dist=gaussian"], None)


def test_seeds_with_only_noisy_networks_read_the_noise_free_networks_of_no_noise_seed(
    tiny_hd_runs, tmp_path, monkeypatch
):
    """The store's seeds 1-2 hold the noisy networks only; ``no_noise_seed=0`` gives their analyses seed 0's
    noise-free ones, and results made so are named apart from a seed's own."""
    from reactivation.analysis.results import result_path

    root = tmp_path / "store"
    for preset in settings.FAMILIES[("head_direction", "vanilla")].values():
        copy = root / preset / "seed_0"
        shutil.copytree(tiny_hd_runs / preset / "seed_0", copy)
        manifest = {"preset": preset, "seed": 0, "overrides": [], "command": "reactivation train ..."}
        (copy / store.MANIFEST).write_text(json.dumps(manifest))
    for preset in ("head_direction/noisy_unbiased", "head_direction/noisy_biased"):
        train(compose_train([f"config={preset}", "seed=1", *TINY]), root / preset / "seed_1", preset=preset)
        manifest = {"preset": preset, "seed": 1, "overrides": [], "command": "reactivation train ..."}
        (root / preset / "seed_1" / store.MANIFEST).write_text(json.dumps(manifest))

    shrunk = [o for o in TINY if not o.startswith("scale=")]  # the analyses add the scale themselves

    def hd(seed: int, **keys):
        cfg = settings.compose_analysis(
            "kl", "tiny", "head_direction", "vanilla", seed, path=str(root), train_overrides=shrunk, **keys
        )
        return settings.settings(cfg)

    with pytest.raises(ReactivationError, match="no trained run of head_direction/no-noise_unbiased with seed 1"):
        lookup.load_conditions(hd(1))
    shared = hd(1, no_noise_seed=0)
    found = lookup.family_runs(shared, [1])
    assert found["noisy_biased"][1] == root / "head_direction/noisy_biased/seed_1"
    assert found["no-noise_biased"][1] == root / "head_direction/no-noise_biased/seed_0"
    assert {c: d for c, (d, _) in lookup.load_conditions(shared).items()} == {c: f[1] for c, f in found.items()}
    # named apart from seed 1's own results; seed 0 sharing its own noise-free networks is seed 0's default
    assert "no_noise_seed=0" in result_path(shared, "kl").name and "no_noise_seed" not in result_path(hd(1), "kl").name
    assert hd(0, no_noise_seed=0).cfg.no_noise_seed is None
    assert result_path(hd(0, no_noise_seed=0), "kl") == result_path(hd(0), "kl")
    # the campaign takes seed 1 as whole, and runs its analyses with the setting
    monkeypatch.setattr(store, "VARIANTS", {"hd": {"tiny": tuple(shrunk)}})
    assert [(f, s) for f, _, _, s in store.complete_families(root, "tiny")] == [("hd", 0), ("hd", 1)]
    cs = campaign.Campaign(
        budget_s=60, root=tmp_path / "runs", store=root, page=None, threads=1, stages=("analyse",), force=False,
        device="cpu", command="test", scale="tiny",
    )  # fmt: skip
    assert "no_noise_seed=0" in campaign._analysis_command("kl", "hd", (), 1, cs)
    # the page lists the analyses still missing by the store's name in the repository, not by where it lies
    text = "\n".join(page._claims(root, "tiny"))
    assert "evidence/paper/head_direction/kl_0.01_1_no_noise_seed=0" in text and str(tmp_path) not in text


@pytest.mark.slow
def test_the_campaign_trains_measures_stores_analyses_and_writes_the_page(tmp_path):
    """A tiny campaign end to end: the HD family trained, each network measured and stored, the family's seven
    analyses run on the store, and the page reports its claims."""
    from reactivation.analysis.settings import FAMILIES

    plan = tuple(campaign.Network(p, 0, (), "b") for p in FAMILIES[("head_direction", "vanilla")].values())
    cs = campaign.Campaign(
        budget_s=1800, root=tmp_path / "runs", store=tmp_path / "store", page=tmp_path / "page.md", threads=1,
        stages=campaign.STAGES, force=False, device="cpu", command="test", plan=plan, scale="tiny",
    )  # fmt: skip
    done = campaign.run(cs)
    assert sum(line.startswith("stored") for line in done) == 4
    assert sum(line.startswith("analysed") for line in done) == len(analyses.NAMES)  # the defaults variant
    assert store.problems(cs.store) == []
    text = (tmp_path / "page.md").read_text()
    assert "### hd, defaults" in text and "#### Claims" in text and "##### Head direction: zero-input drift" in text
    assert "| 5. Head direction" in text  # the HD claim evaluated from the store's analyses
    assert campaign.run(cs)[-1].startswith("4 of 4 networks stored")  # a second call has nothing left to do

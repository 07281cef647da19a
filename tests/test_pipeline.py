"""The reproduction pipeline: aggregation over seeds, claims, the report, and the tiny end-to-end command."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from reactivation import ReactivationError, analyses, pipeline
from reactivation.analysis import aggregate, claims, lookup, report, results, settings
from reactivation.config import compose_train
from reactivation.reproduction import configs
from reactivation.reproduction import train as train_stage
from reactivation.training import train

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------------ aggregation


def test_summarize_is_mean_and_population_std_leaving_out_undefined_values():
    s = aggregate.summarize([0.1, None, 0.3, float("nan"), 0.2])
    assert s.n == 3
    assert s.mean == pytest.approx(0.2)
    assert s.std == pytest.approx(math.sqrt(0.02 / 3))  # ddof 0, as the figures' error bars
    assert aggregate.summarize([None]).n == 0 and aggregate.summarize([None]).format() == "n/a"
    assert aggregate.summarize([5.0]).std == 0.0  # one seed: no spread, still defined


def test_summarize_tree_keeps_the_nesting_and_lists_become_per_point_summaries():
    by_seed = {0: {"a": {"x": 1.0}, "curve": [0.1, 0.5]}, 1: {"a": {"x": 3.0}, "curve": [0.3, 0.7]}}
    tree = aggregate.summarize_tree(by_seed)
    assert (tree["a"]["x"].mean, tree["a"]["x"].std, tree["a"]["x"].n) == (2.0, 1.0, 2)
    assert [c.mean for c in tree["curve"]] == pytest.approx([0.2, 0.6])
    np.testing.assert_allclose(aggregate.gather(by_seed)["curve"], [[0.1, 0.5], [0.3, 0.7]])


def test_a_criterion_holds_on_the_means_and_counts_the_seeds_where_it_held():
    lhs = claims.Quantity("a", "sn", "kl", ("q", "a"))
    rhs = claims.Quantity("2 × b", "sn", "kl", ("q", "b"), factor=2.0)
    by_seed = {
        seed: {"sn": {"kl": {"q": {"a": a, "b": b}}}}
        for seed, (a, b) in enumerate([(1.0, 1.0), (1.0, 1.0), (5.0, 1.0)])
    }
    outcome = claims.evaluate(claims.Criterion(lhs, "<", rhs), by_seed)
    assert outcome.lhs.mean == pytest.approx(7 / 3) and outcome.rhs.mean == pytest.approx(2.0)
    assert outcome.held is False  # 7/3 < 2 fails on the means ...
    assert outcome.seeds_held == [0, 1] and outcome.seeds == [0, 1, 2]  # ... though two seeds pass alone
    missing = claims.evaluate(claims.Criterion(lhs, "<", rhs), {0: {}})
    assert missing.held is None and missing.seeds == []


def test_abs_and_offset_and_constants():
    q = claims.Quantity("5 × abs(v)", "hd", "distance", ("u", "v"), factor=5.0, absolute=True)
    assert q.value({"hd": {"distance": {"u": {"v": -0.02}}}}) == pytest.approx(0.1)
    assert claims.const(0.5).value({}) == 0.5 and claims.const(0.5).constant
    assert math.isnan(q.value({"hd": {"distance": {"u": {"v": None}}}}))


def test_every_claim_of_spec_section_9_is_there():
    numbers = [c.number for c in claims.claims()]
    assert numbers == [1, 2, 3, 4, 5, 6]
    assert all(c.criteria for c in claims.claims())


# ------------------------------------------------------------------------------- report from hand-made files


def _write_results(root: Path, family: str, kind: str, by_seed: dict[int, dict], *extra: str) -> list[Path]:
    """Result files as the analyses write them (with their .meta.json), of the settings reproduce.py asks for."""
    cfg = configs.analysis_config(pipeline.main_config([f"path={root}"]), kind, family, 0)
    for override in extra:
        key, value = override.split("=", 1)
        cfg[key] = json.loads(value)
    written = []
    for seed, result in by_seed.items():
        cfg.seed = seed
        written.append(results.write_result(settings.settings(cfg), kind, result, {"runs": {}}))
    return written


def test_report_from_hand_made_result_files(tmp_path):
    c = ("noisy_unbiased", "noisy_biased", "no-noise_unbiased", "no-noise_biased")
    kl = {}
    for seed, (uu, bb) in enumerate([(0.1, 0.5), (0.2, 0.5), (0.3, 2.0)]):
        table = {row: {col: 3.0 for col in c} for row in (*c, "random", "uniform")}
        table["noisy_unbiased"]["noisy_unbiased"] = uu
        table["noisy_biased"]["noisy_biased"] = bb
        table["noisy_biased"]["noisy_unbiased"] = 1.0
        table["random"]["noisy_unbiased"] = 1.0
        kl[seed] = table
    _write_results(tmp_path, "sn", "kl", kl)
    _write_results(
        tmp_path,
        "sn",
        "variance",
        {
            s: {"noisy_unbiased": v, "noisy_biased": 0.03, "no-noise_unbiased": 0.001, "no-noise_biased": 0.0001}
            for s, v in enumerate([0.30, 0.34, 0.38])
        },
    )
    _write_results(
        tmp_path, "sn", "manifold", {s: {"noisy_unbiased": {"pca_share": v}} for s, v in enumerate([0.7, None, 0.8])}
    )
    cfg = pipeline.main_config([f"path={tmp_path}", "seeds=[0,1,2]", "families=[sn]", "stages=[report]"])
    out, results = pipeline.run(cfg, argv=[])
    text = out.read_text()
    assert out == tmp_path / "report.md"
    # 0.1, 0.2, 0.3 -> 0.2 ± sqrt(0.02/3); held in every seed.
    assert "| 1 | KL(Uσ_q‖Uσ_a) < KL(R‖Uσ_a) | 0.2 ± 0.082 | 1 ± 0 | **held** | 3/3 |" in text
    # 0.5, 0.5, 2.0 -> 1 ± 0.71 vs 1: not held on the means, held in two seeds alone.
    assert "| 1 | KL(Bσ_q‖Bσ_a) < KL(Bσ_q‖Uσ_a) | 1 ± 0.71 | 1 ± 0 | **not held** | 2/3 |" in text
    assert "| Uσ | 0.34 ± 0.033 |" in text  # variance table: 0.30, 0.34, 0.38
    assert "| 3 | PCA share Uσ ≥ 0.5 | 0.75 ± 0.05 | 0.5 | **held** | 2/2 |" in text  # the undefined seed is out
    assert "| 4 | var U (no noise) < 0.1 × var Uσ | 0.001 ± 0 | 0.034 ± 0.0033 | **held** | 3/3 |" in text
    # The KL table: rows in the paper's order, the mean over seeds.
    rows = [
        line.split("|")[1].strip()
        for line in text.split("### Spatial navigation, vanilla RNN (3 seeds)")[1].split("\n\n")[1].splitlines()[2:]
    ]
    assert rows == ["Uσ", "Bσ", "U (no noise)", "B (no noise)", "R (random)", "𝒰 (uniform)"]
    # Families that were not asked for leave their claims not evaluated, and the missing runs are listed.
    assert re.search(r"\| 5\. .* \| not evaluated \|", text) and re.search(r"\| 6\. .* \| not evaluated \|", text)
    assert "run spatial_navigation/noisy_unbiased seed 0: python train.py" in text
    assert results[2]["sn"]["kl"]["noisy_biased"]["noisy_biased"] == 2.0


def test_the_report_says_whether_the_kl_density_ratios_were_clipped():
    kl = {0: {"sn": {"kl": {"noisy_unbiased": {"noisy_unbiased": 0.1}}}}}

    def section(**kw):
        text = report.render(report.Gathered(results=kl, **kw))
        return text.split("## KL divergences (nats)")[1].split("### ")[0]

    assert "KL density ratios unclipped (the published code clipped them to [1e-07, 1e+07]: ratio_clip)." in section()
    published = section(kl_ratio_clip=[1e-7, 1e7])
    assert "KL density ratios clipped to [1e-07, 1e+07] as in the published code." in published
    assert "unclipped" not in published
    assert "KL density ratios clipped to [0.5, 2]." in section(kl_ratio_clip=(0.5, 2.0))


def test_report_of_the_track_family_shows_claim_7_and_its_units(tmp_path):
    c = ("noisy_unbiased", "noisy_biased", "no-noise_unbiased", "no-noise_biased")
    table = {row: {col: 2.0 for col in c} for row in (*c, "random", "uniform")}
    table["noisy_unbiased"]["noisy_unbiased"] = 0.05  # < KL(R‖Uσ_a) = 2
    table["noisy_biased"]["noisy_biased"] = 3.0  # > KL(Bσ_q‖Uσ_a) = 2: the second criterion fails
    _write_results(tmp_path, "track", "kl", {0: table, 1: table})
    _write_results(tmp_path, "track", "distance", {0: {"noisy_unbiased": {"active": 0.01, "quiescent": 0.002}}})
    cfg = pipeline.main_config([f"path={tmp_path}", "seeds=[0,1]", "families=[track]", "stages=[report]"])
    out, _ = pipeline.run(cfg, argv=[])
    text = out.read_text()
    assert re.search(r"\| 7\. Linear track .* \| \*\*not held\*\* \|", text)
    assert "| 7 | KL(Uσ_q‖Uσ_a) < KL(R‖Uσ_a) | 0.05 ± 0 | 2 ± 0 | **held** | 2/2 |" in text
    assert "| 7 | KL(Bσ_q‖Bσ_a) < KL(Bσ_q‖Uσ_a) | 3 ± 0 | 2 ± 0 | **not held** | 0/2 |" in text
    assert "### Linear track (2 seeds)" in text and "### Linear track: mean step between decoded outputs" in text
    assert "m/step" in text and "| active | quiescent |" in text  # a track has no velocity columns
    assert "run linear_track/noisy_unbiased seed 0: python train.py config=linear_track/noisy_unbiased" in text
    # Without the track's results, the report has docs/spec.md §9's six claims only.
    sn_only = pipeline.run(
        pipeline.main_config([f"path={tmp_path / 'sn'}", "seeds=[0]", "families=[sn]", "stages=[report]"]), argv=[]
    )[0].read_text()
    assert "| 6. " in sn_only and "| 7. " not in sn_only


def test_the_training_stage_runs_the_installed_package_not_a_checkouts_script(tmp_path):
    cfg = pipeline.main_config([f"path={tmp_path}"])
    (command,) = train_stage.train_commands(cfg, {"linear_track/noisy_unbiased": [0, 1]})
    # `python -m reactivation train`: the interpreter running the pipeline, and the package it imports.
    assert command[:4] == [sys.executable, "-m", "reactivation", "train"]
    assert command[4:7] == ["-m", "config=linear_track/noisy_unbiased", "seed=0,1"]
    assert train_stage.train_commands(cfg, {}) == []  # nothing to train, no command


def test_bad_pipeline_settings_are_clear_errors(tmp_path):
    for override, message in (
        ("seeds=[]", "seeds="),
        ("families=[sn,xx]", "families="),
        ("launcher=pbs", "launcher="),
        ("stages=[train,plot]", "stages="),
    ):
        with pytest.raises(ReactivationError, match=re.escape(message)):
            pipeline.run(pipeline.main_config([f"path={tmp_path}", override]), argv=[])


@pytest.mark.parametrize(
    "override, message",
    [
        ("formats=[bmpx]", "formats=[bmpx] is not allowed (bmpx unknown): formats must be a non-empty list of "),
        ("formats=[]", "formats=[] is not allowed"),
        ("seeds=[abc]", "seeds=[abc] is not allowed: seeds must be a non-empty list of distinct non-negative integers"),
        ("seeds=5", "seeds=5 is not allowed"),
        ("seeds=[0,0]", "seeds=[0,0] is not allowed"),
        ("seeds=[0.5]", "seeds=[0.5] is not allowed"),
        ("seeds=[true]", "seeds=[true] is not allowed"),
        ("stages=[]", "stages=[] is not allowed"),
        ("families=[]", "families=[] is not allowed"),
        ("force=maybe", "force=maybe is not allowed: force must be true or false"),
        ("device=gpu0", "device='gpu0' is not a device name"),
        ("analyses.kl.ratio_clip=[5,1]", "analyses.kl.ratio_clip=[5,1] is not allowed"),
        ("analyses.drift.n_pca=0", "analyses.drift.n_pca=0 is not allowed"),
        ("path=''", "path= is not allowed"),
        ("train_args=abc", "train_args=abc is not allowed"),
        (
            "variants={a:abc}",
            "variants={a:abc} is not allowed: variants must be named lists of train.py overrides",
        ),
        ('variants={a:["seed=3"]}', "variant 'a': 'seed=3' sets a key the pipeline sets itself"),
        ('variants={a:["rnn.noise_dist=bogus"]}', "variant 'a' (rnn.noise_dist=bogus) is not a valid training setting"),
        (
            'train_overrides=["rnn.no_such_key=1"]',
            "train_overrides (rnn.no_such_key=1) is not a valid training setting",
        ),
        ("seeds=${oc.env:NO_SUCH_VARIABLE_HERE}", "seeds: "),
    ],
)
def test_every_bad_reproduce_value_is_refused_before_any_work(tmp_path, override, message):
    # formats=[bmpx] used to be found only when the first figure was saved, after the training and analyses.
    cfg = pipeline.main_config([f"path={tmp_path / 'results'}", "stages=[train,analyse,figures,report]", override])
    with pytest.raises(ReactivationError, match=re.escape(message)):  # device errors come from training.py
        pipeline._check(cfg)
    with pytest.raises(ReactivationError):
        pipeline.run(cfg, argv=[])
    assert not (tmp_path / "results").exists()


def _kl_table(uu: float) -> dict:
    """A KL table whose only claim-1 statistic that matters is KL(Uσ_q‖Uσ_a) = ``uu`` (against KL(R‖Uσ_a) = 1)."""
    c = ("noisy_unbiased", "noisy_biased", "no-noise_unbiased", "no-noise_biased")
    table = {row: {col: 3.0 for col in c} for row in (*c, "random", "uniform")}
    table["noisy_unbiased"]["noisy_unbiased"], table["random"]["noisy_unbiased"] = uu, 1.0
    return table


def test_variants_are_reproduced_each_with_its_settings_and_their_claims_side_by_side(tmp_path):
    _write_results(tmp_path, "sn", "kl", {0: _kl_table(0.1)})  # gaussian: no overrides
    _write_results(tmp_path, "sn", "kl", {0: _kl_table(2.0)}, 'train_overrides=["rnn.noise_dist=uniform"]')
    cfg = pipeline.main_config(
        [
            f"path={tmp_path}",
            "seeds=[0]",
            "families=[sn]",
            "stages=[report]",
            'variants={gaussian:[],uniform:["rnn.noise_dist=uniform"]}',
        ]
    )
    out, by_variant = pipeline.run(cfg, argv=[])
    assert out == tmp_path / "report.md" and set(by_variant) == {"gaussian", "uniform"}
    # Each variant read its own results: the uniform runs' file has the train_overrides digest in its name.
    assert by_variant["uniform"][0]["sn"]["kl"]["noisy_unbiased"]["noisy_unbiased"] == 2.0
    assert by_variant["gaussian"][0]["sn"]["kl"]["noisy_unbiased"]["noisy_unbiased"] == 0.1
    text = out.read_text()
    assert "| gaussian | (none) | [report_gaussian.md](report_gaussian.md) |" in text
    assert "| uniform | `rnn.noise_dist=uniform` | [report_uniform.md](report_uniform.md) |" in text
    row = next(line for line in text.splitlines() if line.startswith("| 1 | KL(Uσ_q‖Uσ_a) < KL(R‖Uσ_a) |"))
    assert row == (
        "| 1 | KL(Uσ_q‖Uσ_a) < KL(R‖Uσ_a) | 0.1 ± 0 vs 1 ± 0, **held** (1/1) | 2 ± 0 vs 1 ± 0, **not held** (0/1) |"
    )
    assert re.search(r"^\| 1\. .* \| \*\*held\*\* \| \*\*not held\*\* \|$", text, re.M) is None  # claim 1 has more
    # Each variant's own full report, naming the variant; its missing runs are those of its own settings.
    uniform = (tmp_path / "report_uniform.md").read_text()
    assert uniform.startswith("# Reproduction report (paper scale, variant uniform)")
    assert "- **variant:** uniform: train.py rnn.noise_dist=uniform" in uniform
    assert "config=spatial_navigation/noisy_unbiased seed=0 rnn.noise_dist=uniform" in uniform
    assert "rnn.noise_dist" not in (tmp_path / "report_gaussian.md").read_text().split("## Missing")[1]


@pytest.mark.slow
def test_tiny_variants_end_to_end_train_and_analyse_each_variant_with_its_own_runs(tmp_path):
    variants = 'variants={gaussian:[],uniform:["rnn.noise_dist=uniform"]}'
    done = _reproduce(tmp_path, "seeds=[0]", "families=[hd]", "stages=[train,analyse,report]", variants)
    out = tmp_path / "out"
    # The first variant trains the 4 HD presets; the second only its 2 noisy ones, in their own directories: the
    # noise-free runs do not depend on the noise distribution and serve both. Results go under each variant's name.
    assert done.stdout.count("training 4 run(s)") == 1 and done.stdout.count("training 2 run(s)") == 1
    assert (out / "head_direction" / "noisy_biased" / "rnn.noise_dist=uniform" / "seed_0" / "config.yaml").is_file()
    assert (out / "head_direction" / "noisy_biased" / "seed_0" / "config.yaml").is_file()
    assert not (out / "head_direction" / "no-noise_biased" / "rnn.noise_dist=uniform").exists()
    tagged = sorted(
        p.name.split("_")[0] for p in (out / "head_direction").glob("*_train=*.json") if "meta" not in p.name
    )
    assert tagged == sorted(analyses.NAMES)
    text = (out / "report.md").read_text()
    assert re.search(r"^\| 5\. .* \| \*\*(not )?held\*\* \| \*\*(not )?held\*\* \|$", text, re.M)
    assert "mean quiescent angular velocity Bσ" in text and "| 1 | " not in text  # claim 1's family not asked for
    for name in ("gaussian", "uniform"):
        assert re.search(rf"^{name}: claim 5 \(.*\): (held|NOT held)$", done.stdout, re.M)
        assert "## Missing" not in (out / f"report_{name}.md").read_text()


def test_train_overrides_reach_the_training_commands_before_the_launcher_arguments(tmp_path):
    cfg = pipeline.main_config(
        [f"path={tmp_path}", 'train_overrides=["rnn.noise_dist=uniform"]', 'train_args=["hydra.launcher.n_jobs=2"]']
    )
    (command,) = train_stage.train_commands(cfg, {"head_direction/noisy_biased": [0]})
    assert command[-2:] == ["rnn.noise_dist=uniform", "hydra.launcher.n_jobs=2"]
    variant = configs.variant_config(cfg, ["rnn.noise_dist=uniform", "trainer.n_epochs=50"])
    assert configs.analysis_config(variant, "kl", "hd", 0).train_overrides == [
        "rnn.noise_dist=uniform",
        "trainer.n_epochs=50",
    ]
    assert configs.variants(
        pipeline.main_config(['variants={a:[],b:["trainer.lr=0.01"]}', 'train_overrides=["x=1"]'])
    ) == {
        "a": ["x=1"],
        "b": ["x=1", "trainer.lr=0.01"],
    }


def test_a_relative_path_means_the_callers_directory_for_the_training_child(tmp_path, monkeypatch):
    """reproduce.py from another directory used to train into <repo>/<path> and then find nothing."""
    monkeypatch.chdir(tmp_path)
    cfg, _, _ = pipeline._check(pipeline.main_config(["path='out,with comma'", "scale=tiny"]))
    assert cfg.path == str(tmp_path / "out,with comma")
    calls = []
    monkeypatch.setattr(train_stage, "run_child", lambda command, **kw: calls.append((command, kw)) or 0)
    monkeypatch.setattr(train_stage, "missing_runs", lambda *a: {"spatial_navigation/noisy_unbiased": [0]})
    with pytest.raises(ReactivationError, match="runs still missing after training"):
        train_stage.train(cfg, [0], ["sn"])
    ((command, kwargs),) = calls
    assert "cwd" not in kwargs  # the caller's directory, as for every other relative path the user gave
    # Absolute, and quoted so that the comma does not make a multirun sweep of two paths.
    assert f"path='{tmp_path}/out,with comma'" in command


def test_the_report_tabulates_the_theory_checks_over_seeds():
    def drift_entry(slope):
        part = {"slope": slope, "cosine": 0.5}
        split = {"pca_normal": {"slope": 2 * slope, "cosine": 0.4}, "pca_tangent": {"slope": -slope, "cosine": 0.1}}
        return {"pca": part, "reference": {"slope": 0.6, "cosine": 0.9}, "decoded": part, **split}

    def phase(exponent):
        return {"exponent": exponent, "acf_time": None if exponent == 2.0 else 1.0, "acf_outlasts": exponent == 2.0}

    results = {
        seed: {
            "hd": {
                "drift": {"noisy_biased": drift_entry(0.2 + seed), "random": drift_entry(0.0)},
                "temperature": {
                    "noisy_biased": {"factors": [1.0, 2**0.5], "kl": [0.3, 0.1 * (1 + seed)], "best_factor": 2**0.5}
                },
                "diffusion": {"noisy_biased": {"active": phase(2.0), "quiescent": phase(None if seed else 1.1)}},
            }
        }
        for seed in (0, 1)
    }
    text = report.render(report.Gathered(results=results))
    section = text.split("## Theory checks")[1]
    drift_row = next(line for line in section.splitlines() if line.startswith("| Bσ |") and "0.7 ± 0.5" in line)
    assert drift_row.split(" | ")[3] == "0.6 ± 0"  # the ceiling, the same for both seeds
    assert drift_row.split(" | ")[7:11] == ["1.4 ± 1", "0.4 ± 0", "-0.7 ± 0.5", "0.1 ± 0 |"]  # normal, tangent
    assert "| normal slope | normal cosine | tangent slope | tangent cosine |" in section
    assert "| R (random) | 0 ± 0 | 0.5 ± 0 |" in section
    assert "| condition | KL c=1 | KL c=1.41 | least-KL c |" in section
    assert "| Bσ | 0.3 ± 0 | 0.15 ± 0.05 | 1.41 ± 0 |" in section
    # seed 1's undefined exponent left out; an autocorrelation that outlasts the lags in every seed: n/a
    assert "| Bσ | 2 ± 0 | 1.1 ± 0 | n/a | 1 ± 0 |" in section
    assert "Spatial navigation" not in section  # families without theory results have no tables


def test_report_lists_a_corrupt_or_foreign_result_file_with_its_fix(tmp_path):
    good = {"noisy_unbiased": 0.3, "noisy_biased": 0.03, "no-noise_unbiased": 0.001, "no-noise_biased": 0.0001}
    torn, wrong = _write_results(tmp_path, "sn", "variance", {0: good, 1: good})
    torn.write_text('{"noisy_unbiased": 0.')
    wrong.write_text(json.dumps([1, 2]))
    # A result of another epoch has its own file and is not the one the report asks for.
    (other_epoch,) = _write_results(tmp_path, "sn", "kl", {0: {"noisy_unbiased": {"noisy_unbiased": 0.1}}}, "epoch=20")
    assert other_epoch.name == "kl_0.0001_0_epoch=20.json"
    cfg = pipeline.main_config([f"path={tmp_path}", "seeds=[0,1]", "families=[sn]", "stages=[report]"])
    out, results = pipeline.run(cfg, argv=[])
    assert results == {0: {}, 1: {}}
    missing = out.read_text().split("## Missing")[1]
    assert f"{torn} is unreadable (JSONDecodeError" in missing
    assert f"{wrong} is not a variance result (the file holds [1,2], not a JSON object of entries)" in missing
    assert missing.count("delete it and compute it again with: python output_variance.py seed=") == 2
    assert f"{tmp_path}/spatial_navigation/kl_0.0001_0.json is missing; compute it with: python output_kl.py" in missing


def test_train_commands_group_presets_missing_the_same_seeds(tmp_path):
    cfg = pipeline.main_config(
        [f"path={tmp_path}", "scale=tiny", "launcher=slurm", 'train_args=["hydra.launcher.partition=gpu"]']
    )
    commands = train_stage.train_commands(cfg, {"a/x": [0, 1], "a/y": [0, 1], "b/z": [1]})
    assert [c[5:7] for c in commands] == [["config=a/x,a/y", "seed=0,1"], ["config=b/z", "seed=1"]]
    assert all({"scale=tiny", "hydra/launcher=slurm", "hydra.launcher.partition=gpu"} <= set(c) for c in commands)


def test_launcher_auto_means_ensembles_on_cuda_and_parallel_single_runs_on_cpu(tmp_path, monkeypatch):
    cfg = pipeline.main_config([f"path={tmp_path}"])
    assert cfg.launcher == "auto"
    (command,) = train_stage.train_commands(cfg, {"a/x": [0, 1]})
    assert "hydra/launcher=local" in command and not any("ensemble" in c for c in command)
    name, why = train_stage.launcher(cfg)
    assert name == "local" and "benchmarks/results/vm-ensemble.md" in why  # the reason cites the measurement
    forced = pipeline.main_config([f"path={tmp_path}", "launcher=ensemble"])
    assert "hydra/launcher=ensemble" in train_stage.train_commands(forced, {"a/x": [0]})[0]
    monkeypatch.setattr(train_stage, "select_device", lambda name: torch.device("cuda"))
    (command,) = train_stage.train_commands(cfg, {"a/x": [0, 1]})
    assert "hydra/launcher=ensemble" in command and "hydra/launcher=local" not in command
    assert train_stage.launcher(cfg)[0] == "ensemble"
    assert train_stage.launcher(pipeline.main_config([f"path={tmp_path}", "launcher=basic"]))[0] == "basic"


def test_scale_shrinks_runs_and_analyses_together():
    paper = compose_train(["config=spatial_navigation/noisy_unbiased", "seed=0"])
    small = compose_train(["config=spatial_navigation/noisy_unbiased", "seed=0", "scale=small"])
    hd = compose_train(["config=head_direction/noisy_unbiased", "seed=0", "scale=small"])
    assert (paper.trainer.n_epochs, paper.task.batch_size, paper.path) == (2500, 200, "results")
    assert small.trainer.n_epochs < paper.trainer.n_epochs and small.task.batch_size < 200
    assert small.path == "results/small" and small.rnn.n_rec == 512  # same networks, fewer steps
    assert hd.trainer.n_epochs < 20000
    run_dir = compose_train(
        ["config=spatial_navigation/noisy_unbiased", "seed=3", "scale=small"], with_hydra=True
    ).hydra.run.dir
    assert run_dir == "results/small/spatial_navigation/noisy_unbiased/seed_3"  # the scale has its own root
    assert (
        lookup.train_command("head_direction/noisy_biased", 1, ["scale=small"], Path("results/small"))
        == "python train.py config=head_direction/noisy_biased seed=1 scale=small"
    )
    kl_paper = pipeline.main_config([]).sizes.kl
    kl_small = pipeline.main_config(["scale=small"]).sizes.kl
    assert kl_small.t_quiescent < kl_paper.t_quiescent and kl_small.batch_size < kl_paper.batch_size


def test_report_lists_a_run_whose_test_log_is_corrupt(tmp_path):
    preset = "spatial_navigation/noisy_unbiased"
    cfg = compose_train([f"config={preset}", "seed=0", "scale=tiny", "device=cpu", "trainer.progress=false"])
    train(cfg, tmp_path / preset / "seed_0", preset=preset)
    log = tmp_path / preset / "seed_0" / "test_metrics.json"
    log.write_text('{"0": {"loss": 1.0, "pos_mse"')  # torn
    out, _ = pipeline.run(
        pipeline.main_config([f"path={tmp_path}", "scale=tiny", "seeds=[0]", "families=[sn]", "stages=[report]"]),
        argv=[],
    )
    missing = out.read_text().split("## Missing")[1]
    assert f"run {preset} seed 0: {log} is unreadable (JSONDecodeError" in missing and "resume=false" in missing
    log.write_text(json.dumps({"0": {"loss": "low"}}))  # JSON, not a test log
    out, _ = pipeline.run(
        pipeline.main_config([f"path={tmp_path}", "scale=tiny", "seeds=[0]", "families=[sn]", "stages=[report]"]),
        argv=[],
    )
    assert f"{log} is not a test log" in out.read_text()


# --------------------------------------------------------------------------------------- tiny, end to end


def _reproduce(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    # A relative path, from a directory that is not the repository's: it means <cwd>/out for every stage.
    cmd = [
        sys.executable,
        str(ROOT / "reproduce.py"),
        "scale=tiny",
        "path=out",
        "progress=false",
        "formats=[png]",
        *args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow  # 3-4 min on 2 cores: python -m pytest -m slow
def test_tiny_pipeline_end_to_end_then_reuses_everything(tmp_path):
    done = _reproduce(tmp_path)
    assert not (ROOT / "out").exists()
    tmp_path = tmp_path / "out"
    text = (tmp_path / "report.md").read_text()
    for section in (
        "## Claims (docs/spec.md §9)",
        "## KL divergences (nats)",
        "### Spatial navigation, vanilla RNN (2 seeds)",
        "### Spatial navigation, GRU (2 seeds)",
        "### Head direction (2 seeds)",
        "quiescent output variance",
        "mean step between decoded outputs",
        "hidden-state manifold",
        "## Theory checks",
        "### Spatial navigation, vanilla RNN: zero-input drift against s² ∇ log p (output_drift.py)",
        "### Head direction: KL(quiescent ‖ active) against the noise factor c (output_temperature.py)",
        "### Spatial navigation, GRU: diffusion or sequence (output_diffusion.py)",
        "## Figures",
        "## Runs",
        "## Configuration",
    ):
        assert section in text, section
    assert "## Missing" not in text and "not evaluated" not in text
    # launcher=auto on a CPU: parallel single runs, and both the log and the report say so and why.
    assert "training 20 run(s) with the local launcher: launcher=auto on CPU" in done.stdout
    assert "- **training launcher:** local (launcher=auto on CPU: parallel single runs" in text
    # Every statistic of the claims and summaries is defined (the theory checks may have n/a: a network that does
    # not move has no MSD exponent).
    numbers = re.findall(r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?|nan|inf|n/a) ± ", text.split("## Theory checks")[0])
    assert len(numbers) > 100 and not {"nan", "inf", "n/a"} & set(numbers)
    assert len(re.findall(r"^\| (spatial_navigation|head_direction)/\S+ \| [01] \| 30 \|", text, re.M)) == 20
    for line in done.stdout.splitlines()[-7:-1]:
        assert re.fullmatch(r"claim \d \(.*\): (held|NOT held)", line), line
    figures = sorted((tmp_path / "spatial_navigation" / "figures").glob("*.png"))
    assert any(f.name == "kl_heatmap.png" for f in figures) and any(f.name == "kl_heatmap_gru.png" for f in figures)

    # The scale's own sizes: the results have the plain names, and their .meta.json says which settings made them.
    meta = json.loads((tmp_path / "spatial_navigation" / "kl_0.0001_1.meta.json").read_text())
    assert meta["settings"]["scale"] == "tiny" and meta["settings"]["n_samples"] == 200
    assert (tmp_path / "head_direction" / "manifold_0.01_0.json").is_file()

    results = [
        p for kind in ("kl", "manifold", "drift", "temperature") for p in sorted(tmp_path.glob(f"*/{kind}_*.json"))
    ]
    stamps = {p: p.stat().st_mtime_ns for p in results}
    _reproduce(tmp_path.parent, "stages=[train,analyse,report]")
    assert "(0 trained by this call, the rest reused)" in (tmp_path / "report.md").read_text()
    assert {p: p.stat().st_mtime_ns for p in results} == stamps  # analyses reused, not recomputed


def test_reproduce_computes_and_reads_each_analysis_with_the_settings_of_its_analyses_block():
    # e.g. the published KL routine's ratio clip, to set beside the published heat map (it could not be set before)
    cfg, _, _ = pipeline._check(pipeline.main_config(["scale=tiny", "analyses.kl.ratio_clip=[1e-7,1e7]"]))
    kl = settings.settings(configs.analysis_config(cfg, "kl", "sn", 0))
    assert kl.cfg.ratio_clip == [1e-7, 1e7] and "ratio_clip=1e-07-1e+07" in results.result_path(kl, "kl").name
    variance = settings.settings(configs.analysis_config(cfg, "variance", "sn", 0))
    assert "ratio_clip" not in variance.cfg  # the other analyses keep their defaults
    figures = configs.analysis_config(cfg, "figures", "sn", None)  # the figures read those results
    assert figures.analyses.kl.ratio_clip == [1e-7, 1e7]
    figures.seed = 0  # the figure command's reference seed
    read = settings.for_kind(settings.settings(figures), "kl")
    assert results.result_path(read, "kl") == results.result_path(kl, "kl")

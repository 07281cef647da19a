"""Ensembles (issue 13): member k of an ensemble is the single run of its preset and seed, in its own run directory;
interrupted ensembles resume bit for bit; a diverging member stops alone; jobs are grouped by shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reactivation import ConfigError, ReactivationError, ensembles, runs
from reactivation.training import Job, train, train_ensemble

ROOT = Path(__file__).resolve().parent.parent

# Mixed seeds, noise levels and distributions, biased and unbiased, for each model kind and task shape.
MEMBERS = {
    "vanilla": [
        ("spatial_navigation/noisy_unbiased", 0, []),
        ("spatial_navigation/no-noise_biased", 1, []),
        ("spatial_navigation/noisy_biased", 2, ["rnn.noise_dist=uniform", "rnn.sigma2_in=0.0001"]),
    ],
    "gru": [
        ("spatial_navigation/noisy_unbiased_gru", 0, []),
        ("spatial_navigation/noisy_biased_gru", 1, ["rnn.sigma2_rec=0.0"]),
        ("spatial_navigation/noisy_unbiased_gru", 2, ["rnn.noise_dist=gaussian_matched"]),
    ],
    "hd": [
        ("head_direction/noisy_unbiased", 0, []),
        ("head_direction/no-noise_biased", 0, []),
        ("head_direction/noisy_biased", 3, ["rnn.sigma2_out=0.0001"]),
    ],
}


def _jobs(tiny_config, tmp_path: Path, kind: str, *extra: str, where: str = "ensemble") -> list[Job]:
    return [
        Job(tiny_config(preset, *overrides, *extra, seed=seed), tmp_path / where / f"{k}", preset)
        for k, (preset, seed, overrides) in enumerate(MEMBERS[kind])
    ]


def _losses(run_dir: Path) -> list[float]:
    entries = json.loads((run_dir / "train_metrics.json").read_text())
    return [entries[step]["loss"] for step in sorted(entries, key=int)]


def _files(run_dir: Path) -> set[str]:
    return {str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file() and p.name != ".lock"}


@pytest.mark.parametrize("kind", MEMBERS)
def test_each_member_is_the_single_run_of_its_preset_and_seed(kind, tiny_config, tmp_path):
    extra = ("trainer.n_epochs=20", "trainer.test_freq=5", "trainer.save_freq=10")
    jobs = _jobs(tiny_config, tmp_path, kind, *extra)
    results = train_ensemble(jobs)
    for job, result in zip(jobs, results):
        alone = tmp_path / "alone" / job.run_dir.name
        single = train(job.cfg, alone, preset=job.preset)
        assert isinstance(result, dict) and result["step"] == single["step"] == 20
        ours, theirs = _losses(job.run_dir), _losses(alone)
        assert len(ours) == 20
        assert ours == pytest.approx(theirs, rel=1e-5)  # float32: batched products round differently
        member, reference = (
            runs.load_checkpoint(job.run_dir / "checkpoints" / "resume.pt"),
            runs.load_checkpoint(alone / "checkpoints" / "resume.pt"),
        )
        for name, weight in reference["model"].items():
            scale = weight.abs().max()
            assert torch.allclose(member["model"][name], weight, rtol=0, atol=1e-4 * scale), name
        # An ordinary run directory, with the same files and keys; config.yaml says it was an ensemble member.
        assert _files(job.run_dir) == _files(alone)
        assert set(member) == set(reference) and set(member["optimizer"]) == set(reference["optimizer"])
        config = runs.load_config(job.run_dir)
        assert config["ensemble"]["size"] == 3 and config["ensemble"]["members"][config["ensemble"]["index"]] == (
            f"{job.preset} seed={job.cfg.seed}"
        )
        assert {k: v for k, v in config.items() if k != "ensemble"} == runs.load_config(alone)


def test_runs_of_another_learning_rate_train_as_an_ensemble_of_their_own(tiny_config, tmp_path):
    # One torch Adam steps an ensemble, so members share trainer.lr and trainer.weight_decay: the others train apart,
    # each still the single run of its settings.
    jobs = _jobs(tiny_config, tmp_path, "vanilla", "trainer.n_epochs=3")
    jobs[2] = Job(tiny_config(jobs[2].preset, "trainer.lr=0.003", "trainer.n_epochs=3", seed=2), jobs[2].run_dir,
                  jobs[2].preset)  # fmt: skip
    results = train_ensemble(jobs)
    assert all(isinstance(r, dict) and r["step"] == 3 for r in results)
    assert [runs.load_config(j.run_dir).get("ensemble", {}).get("size") for j in jobs] == [2, 2, None]
    alone = train(jobs[2].cfg, tmp_path / "alone", preset=jobs[2].preset)
    assert _losses(jobs[2].run_dir) == _losses(tmp_path / "alone") and alone["step"] == 3


def test_an_interrupted_ensemble_resumes_bit_for_bit(tiny_config, tmp_path, monkeypatch):
    extra = ("trainer.n_epochs=7", "trainer.save_freq=3")
    straight = _jobs(tiny_config, tmp_path, "vanilla", *extra, where="straight")
    train_ensemble(straight)
    resumed = _jobs(tiny_config, tmp_path, "vanilla", *extra, where="resumed")
    log = runs.MetricsLog.log

    def interrupt(self, split, step, **values):
        if split == "train" and step == 5:
            raise KeyboardInterrupt
        log(self, split, step, **values)

    monkeypatch.setattr(runs.MetricsLog, "log", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train_ensemble(resumed)
    assert all(runs.load_checkpoint(j.run_dir / "checkpoints" / "resume.pt")["step"] == 3 for j in resumed)
    monkeypatch.setattr(runs.MetricsLog, "log", log)
    assert [r["step"] for r in train_ensemble(resumed)] == [7, 7, 7]
    for a, b in zip(straight, resumed):
        wa = runs.load_checkpoint(a.run_dir / "checkpoints" / "resume.pt")["model"]
        wb = runs.load_checkpoint(b.run_dir / "checkpoints" / "resume.pt")["model"]
        assert all(torch.equal(w, wb[k]) for k, w in wa.items())
        for name in ("metrics.jsonl", "test_metrics.json"):
            assert (a.run_dir / name).read_text() == (b.run_dir / name).read_text()


def test_finished_members_are_skipped_and_a_single_run_resumes_in_an_ensemble(tiny_config, tmp_path):
    jobs = _jobs(tiny_config, tmp_path, "vanilla")
    train(jobs[0].cfg, jobs[0].run_dir, preset=jobs[0].preset)  # member 0 finished alone
    before = (jobs[0].run_dir / "checkpoints" / "resume.pt").stat().st_mtime_ns
    results = train_ensemble(jobs)
    assert all(isinstance(r, dict) and r["step"] == 5 for r in results)
    assert (jobs[0].run_dir / "checkpoints" / "resume.pt").stat().st_mtime_ns == before
    assert "ensemble" not in runs.load_config(jobs[0].run_dir)  # trained alone
    assert runs.load_config(jobs[1].run_dir)["ensemble"]["size"] == 2  # the two left trained together


def test_a_diverging_member_stops_with_the_usual_message_and_the_others_finish(tiny_config, tmp_path):
    jobs = _jobs(tiny_config, tmp_path, "vanilla")
    # Output noise a thousand times the code's size: a loss past the divergence bound from the first step, in this
    # member only (the members share the optimiser's settings).
    jobs[1] = Job(tiny_config(jobs[1].preset, "rnn.sigma2_out=1e6", seed=1), jobs[1].run_dir, jobs[1].preset)
    results = train_ensemble(jobs)
    assert isinstance(results[1], ReactivationError)
    assert "diverged at step" in str(results[1]) and str(jobs[1].run_dir) in str(results[1])
    assert "Lower trainer.lr" in str(results[1])
    assert runs.load_config(jobs[0].run_dir)["ensemble"]["size"] == 3  # it diverged inside the ensemble
    for k in (0, 2):
        assert isinstance(results[k], dict) and results[k]["step"] == 5
        assert runs.checkpoint_steps(jobs[k].run_dir)[-1] == 5
    assert runs.checkpoint_steps(jobs[1].run_dir)[-1] < 5  # nothing diverged was saved
    again = _jobs(tiny_config, tmp_path, "vanilla", where="again")
    again[1] = Job(jobs[1].cfg, tmp_path / "again" / "1", jobs[1].preset)
    with pytest.raises(ReactivationError, match=r"(?s)1 of 3 run\(s\) failed.*no-noise_biased seed=1: .*diverged"):
        ensembles.train_all(again, out=str)
    assert runs.checkpoint_steps(again[2].run_dir)[-1] == 5


def test_jobs_are_grouped_by_shape_and_split_at_max_members(tiny_config, tmp_path):
    vanilla = _jobs(tiny_config, tmp_path, "vanilla")
    gru = _jobs(tiny_config, tmp_path, "gru", where="gru")
    hd = _jobs(tiny_config, tmp_path, "hd", where="hd")
    other_batch = Job(tiny_config(vanilla[0].preset, "task.batch_size=5", seed=7), tmp_path / "b5", vanilla[0].preset)
    groups = ensembles.group([*vanilla, gru[0], *hd, other_batch, *gru[1:]])
    assert [[j.run_dir for j in g] for g in groups] == [
        [j.run_dir for j in vanilla],
        [j.run_dir for j in gru],
        [j.run_dir for j in hd],
        [other_batch.run_dir],
    ]
    assert [len(g) for g in ensembles.group(vanilla, max_members=2)] == [2, 1]
    text = ensembles.describe(groups)
    assert text.startswith("ensemble launcher: 10 run(s) in 4 ensemble(s)")
    assert "3 member(s) [head_direction, vanilla n_rec=16, batch 4 x 6 steps, 5 updates]" in text


def test_conflicting_or_unknown_ensemble_settings_are_clear_errors(tiny_config, tmp_path):
    job = _jobs(tiny_config, tmp_path, "vanilla")[0]
    with pytest.raises(ConfigError, match="two jobs of the sweep train into"):
        ensembles.group([job, job])
    with pytest.raises(ConfigError, match="max_members=0 is not allowed.*auto or a positive integer"):
        ensembles.check_max_members(0)
    with pytest.raises(ConfigError, match="needs|add -m"):
        ensembles.preflight(["config=a", "seed=0", "hydra/launcher=ensemble"])
    with pytest.raises(ConfigError, match="hydra.launcher.n_jobs is not a setting of the ensemble launcher"):
        ensembles.preflight(["-m", "config=a", "seed=0", "hydra/launcher=ensemble", "hydra.launcher.n_jobs=2"])
    with pytest.raises(ConfigError, match="max_members='many'"):
        ensembles.preflight(["-m", "hydra/launcher=ensemble", "hydra.launcher.max_members=many"])


def test_the_memory_estimate_grows_with_the_shapes(tiny_config):
    small = tiny_config("spatial_navigation/noisy_unbiased")
    wider = tiny_config("spatial_navigation/noisy_unbiased", "rnn.n_rec=32")
    gru = tiny_config("spatial_navigation/noisy_unbiased_gru")
    assert ensembles.member_bytes(small) < ensembles.member_bytes(wider) < 2 * ensembles.member_bytes(small) + 1
    # 4 bytes x T x B x (12 n_rec + 9 cells) for vanilla; the GRU keeps 16 n_rec + 9 cells.
    assert ensembles.member_bytes(small) == 4 * 6 * 4 * (12 * 16 + 9 * 32)
    assert ensembles.member_bytes(gru) == 4 * 6 * 4 * (16 * 16 + 9 * 32)


def test_the_launcher_trains_a_sweep_as_ensembles_from_another_directory(tmp_path):
    """`reactivation train -m ... hydra/launcher=ensemble` as a user types it, from outside the checkout."""
    presets = "linear_track/noisy_unbiased,linear_track/no-noise_biased"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "reactivation", "train", "-m", f"config={presets}", "seed=0,1", "scale=tiny",
         "trainer.progress=false", "hydra/launcher=ensemble", "hydra.launcher.max_members=3", "device=cpu"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "ensemble launcher: 4 run(s) in 2 ensemble(s)" in done.stdout
    run_dirs = sorted((tmp_path / "results" / "tiny" / "linear_track").glob("*/seed_*"))
    assert len(run_dirs) == 4
    sizes = sorted(runs.load_config(d).get("ensemble", {}).get("size", 1) for d in run_dirs)
    assert sizes == [1, 3, 3, 3]
    for run_dir in run_dirs:
        assert (run_dir / ".hydra" / "overrides.yaml").exists() and (run_dir / "test_metrics.json").exists()
    again = subprocess.run(done.args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and (again.stdout + again.stderr).count("already finished") == 4, again.stderr

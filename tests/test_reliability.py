"""Faults around training: divergence, concurrent writers, signals, leftovers, damaged files, file modes."""

from __future__ import annotations

import errno
import json
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from reactivation import ReactivationError, processes, runs, training
from reactivation.analysis import lookup
from reactivation.cli import exit_on_error
from reactivation.config import compose_train
from reactivation.loading import load_run
from reactivation.runs.files import atomic, host_tag
from reactivation.training import train
from reactivation.training.run import Run
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parent.parent
PRESET = "spatial_navigation/noisy_unbiased"


def _finite_weights(path: Path) -> bool:
    return all(torch.isfinite(t).all() for t in runs.load_checkpoint(path)["model"].values())


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _contents(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root`` but the lock, by its path, with its bytes and modification time: what a command
    that changes nothing leaves as it was."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != runs.LOCK_FILE
    }


def _at_step(monkeypatch, step: int, action) -> None:
    """Call ``action(run)`` when training draws the batch of ``step`` (a change that happens part-way, in-process)."""
    drawn = Run.sample
    count = {"steps": 0}

    def sample(run):
        count["steps"] += 1
        if count["steps"] == step:
            action(run)
        return drawn(run)

    monkeypatch.setattr(Run, "sample", sample)


def _interrupted_at(monkeypatch, cfg, run_dir: Path, step: int, preset: str | None = None) -> None:
    """Train ``cfg`` into ``run_dir`` and stop it as Ctrl-C would when step ``step`` starts (an unfinished run);
    ``preset`` is recorded as train.py records it (the analyses match runs by it)."""

    def interrupt(run):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        _at_step(patch, step, interrupt)
        with pytest.raises(KeyboardInterrupt):
            train(cfg, run_dir, preset=preset)


# 1. The guard: a diverged run is never saved as good and never finishes.


def test_huge_learning_rate_stops_without_saving_non_finite_weights(tiny_config, tmp_path):
    # lr=1e6 makes the first update blow the weights up while the loss computed before it is still finite.
    with pytest.raises(ReactivationError, match=r"diverged at step 1 .*step_000000\.pt.*trainer\.lr=100000 ") as err:
        train(tiny_config(PRESET, "trainer.lr=1e6", "trainer.save_freq=1"), tmp_path)
    assert "resume=false" not in str(err.value)  # a lower lr names a new run directory: nothing to delete
    assert runs.checkpoint_steps(tmp_path) == [0]
    assert _finite_weights(runs.checkpoint_path(tmp_path, 0))
    assert runs.load_checkpoint(tmp_path / "checkpoints" / "resume.pt")["step"] == 0  # not finished


def test_a_one_step_diverged_run_does_not_finish(tiny_config, tmp_path):
    with pytest.raises(ReactivationError, match="diverged at step 1"):
        train(tiny_config(PRESET, "trainer.lr=1e6", "trainer.n_epochs=1"), tmp_path)
    assert runs.checkpoint_steps(tmp_path) == [0]
    assert json.loads((tmp_path / "test_metrics.json").read_text()).keys() == {"0"}


@pytest.mark.parametrize(
    "jump, diverged_at",
    [
        # The learning rate jumps at the update of step 7 (a schedule gone wrong): the weights it writes give step
        # 8 an absurd training loss.
        (lambda run: [group.update(lr=1e6) for group in run.optimizer.param_groups], 8),
        # The recurrent noise jumps at step 7: that step's loss is absurd at once.
        (lambda run: setattr(run.model, "sigma_rec", 1e15), 7),
    ],
    ids=["learning-rate-jump", "noise-jump"],
)
def test_a_run_that_diverges_part_way_stops_at_its_last_good_checkpoint(
    tiny_config, tmp_path, monkeypatch, jump, diverged_at
):
    command = [f"config={PRESET}", "seed=0", *TINY, "trainer.n_epochs=10", f"path={tmp_path}"]
    cfg, run_dir = compose_train(command), Path(compose_train(command, with_hydra=True).hydra.run.dir)
    with monkeypatch.context() as patch:
        _at_step(patch, 7, jump)
        with pytest.raises(ReactivationError, match=rf"diverged at step {diverged_at} .*step_000006\.pt") as err:
            train(cfg, run_dir, preset=PRESET)
    message = str(err.value)
    assert runs.checkpoint_steps(run_dir) == [0, 2, 4, 6]
    resume = runs.load_checkpoint(run_dir / "checkpoints" / "resume.pt")
    last = runs.load_checkpoint(runs.checkpoint_path(run_dir, 6))
    assert resume["step"] == 6 and all(torch.equal(last["model"][k], resume["model"][k]) for k in resume["model"])
    assert _finite_weights(runs.checkpoint_path(run_dir, 6))
    assert json.loads((run_dir / "test_metrics.json").read_text()).keys() == {"0", "2", "4", "6"}
    with pytest.raises(ReactivationError, match=r"incomplete \(6 of 10 steps\)"):  # the analyses: not finished
        lookup.find_run(tmp_path, PRESET, 0, [*TINY, "trainer.n_epochs=10"], None)
    # The advice: a lower learning rate, which the training command puts in a directory of its own; no resume=false.
    lower = re.search(r"set (trainer\.lr=\S+) in the training command", message)
    assert lower and lower.group(1) == "trainer.lr=0.0001" and "resume=false" not in message
    lowered = [*command, lower.group(1)]
    new_dir = Path(compose_train(lowered, with_hydra=True).hydra.run.dir)
    before = _contents(run_dir)
    assert new_dir != run_dir and train(compose_train(lowered), new_dir, preset=PRESET)["step"] == 10
    assert _contents(run_dir) == before  # the diverged run is kept as it was
    # What was saved is intact: resumed without the jump, the run ends exactly as one never stopped does.
    assert train(cfg, run_dir, preset=PRESET)["step"] == 10
    straight = train(cfg, tmp_path / "straight", preset=PRESET)
    assert straight["step"] == 10
    a, b = (runs.load_checkpoint(d / "checkpoints" / "resume.pt") for d in (run_dir, tmp_path / "straight"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_noise_that_swamps_the_signal_counts_as_divergence(tiny_config, tmp_path):
    # A finite but absurd loss (8.7e29 once "finished") is divergence too: 1e4 x the loss of zero outputs.
    with pytest.raises(ReactivationError, match=r"diverged at step 1 \(training loss [0-9.]+e\+2\d"):
        train(tiny_config(PRESET, "rnn.sigma2_rec=1e30"), tmp_path)


def test_a_checkpoint_with_non_finite_weights_is_refused_by_the_analyses(tiny_config, tmp_path):
    train(tiny_config(), tmp_path)
    path = runs.checkpoint_path(tmp_path, 5)
    state = runs.load_checkpoint(path)
    state["model"]["recurrent.weight"][0, 0] = float("nan")
    runs.save_checkpoint(path, state)
    with pytest.raises(ReactivationError, match=r"step_000005\.pt holds non-finite weights \(recurrent\.weight\)"):
        load_run(tmp_path, device="cpu")


# 2. One writer per run directory.


def test_a_second_writer_is_refused_naming_the_first_and_changes_nothing(tiny_config, tmp_path):
    train(tiny_config(), tmp_path)
    before = _tree(tmp_path)
    with runs.RunLock(tmp_path):  # another trainer holds the run
        with pytest.raises(ReactivationError, match=rf"being written by another process \(pid {os.getpid()} on"):
            train(tiny_config(PRESET, "resume=false"), tmp_path)
        lock = (tmp_path / runs.LOCK_FILE).stat()
    after = _tree(tmp_path)
    after.pop(runs.LOCK_FILE, None)
    before.pop(runs.LOCK_FILE, None)
    assert after == before and lock.st_size > 0
    assert not (tmp_path / runs.LOCK_FILE).exists()  # released and removed on exit


def test_a_stale_lock_of_a_dead_process_is_taken_over(tiny_config, tmp_path):
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / runs.LOCK_FILE).write_text("pid 999999 on elsewhere, since 2020-01-01 00:00:00")  # nobody holds it
    assert train(tiny_config(), tmp_path)["step"] == 5
    assert not (tmp_path / runs.LOCK_FILE).exists()


# 5. Signals and leftovers.


def test_leftover_temporary_files_are_removed_on_the_next_start(tiny_config, tmp_path):
    train(tiny_config(), tmp_path)
    ckpt = tmp_path / "checkpoints"
    leftovers = [
        ckpt / ".resume.pt.otherhost-12.abcd1234.tmp",
        ckpt / ".step_000004.pt.x1y2z3.tmp",
        tmp_path / ".metrics.jsonl.vm-1.qwerty.tmp",
    ]
    for p in leftovers:
        p.write_bytes(b"partial")
    train(tiny_config(), tmp_path)  # finished: skipped, but the leftovers go
    assert not any(p.exists() for p in leftovers)


def test_a_stale_temporary_file_of_a_dead_writer_is_removed_when_the_file_is_written_again(tmp_path):
    dead = tmp_path / f".kl_0.json.{host_tag()}-999999.abc.tmp"  # pid 999999: not running
    live = tmp_path / f".kl_0.json.{host_tag()}-{os.getpid()}.abc.tmp"  # a writer still at work
    other = tmp_path / ".kl_0.json.otherhost-1.abc.tmp"  # another machine's: cannot tell, kept
    for p in (dead, live, other):
        p.write_text("x")
    runs.write_json_atomic(tmp_path / "kl_0.json", {"a": 1})
    assert not dead.exists() and live.exists() and other.exists()


@pytest.mark.parametrize("signum, error", [(signal.SIGTERM, processes.Terminated), (signal.SIGINT, KeyboardInterrupt)])
def test_a_signal_during_a_write_is_delivered_after_the_file_is_complete(tmp_path, signum, error):
    path = tmp_path / "big.json"

    def write(f):
        f.write(b'{"a": ')
        os.kill(os.getpid(), signum)  # arrives mid-write
        time.sleep(0.05)
        f.write(b"1}\n")

    with pytest.raises(error), processes.handling():
        atomic(path, write)
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["big.json"]


def _parent_of(tmp_path: Path, child: str) -> subprocess.Popen:
    """Start a parent process that runs the Python code ``child`` as its child, as an entry point does
    (``exit_on_error`` around ``run_child``; the parent exits with the child's status)."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import sys\nfrom reactivation.cli import exit_on_error\nfrom reactivation.processes import run_child\n"
        f"sys.exit(exit_on_error(run_child)([sys.executable, '-c', {child!r}]))\n"
    )
    return subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, stderr=subprocess.PIPE, text=True)


def _terminated_parent_of(tmp_path: Path, child: str, ready) -> tuple[subprocess.Popen, str]:
    """:func:`_parent_of`, sent SIGTERM once ``ready()`` is true (at most 60 s); the finished parent and its stderr."""
    parent = _parent_of(tmp_path, child)
    deadline = time.monotonic() + 60
    while not ready() and time.monotonic() < deadline:
        time.sleep(0.05)
    parent.send_signal(signal.SIGTERM)
    _, err = parent.communicate(timeout=60)
    return parent, err


def test_sigterm_stops_a_child_group_with_its_parent(tmp_path):
    # parent (exit_on_error + run_child) -> child -> grandchild; SIGTERM to the parent must stop all three.
    pids = tmp_path / "pids"
    child = (
        "import os, subprocess, sys, time; g = subprocess.Popen([sys.executable, '-c', 'import time; "
        f"time.sleep(120)']); open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{g.pid}}'); time.sleep(120)"
    )
    parent, err = _terminated_parent_of(tmp_path, child, lambda: pids.exists() and pids.read_text())
    assert parent.returncode == 143 and "interrupted" in err and "Traceback" not in err
    for pid in map(int, pids.read_text().split()):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_during_start_up_ends_cleanly_and_writes_nothing(tmp_path, signum, code):
    proc = _start(_train_cmd(tmp_path / "root"))
    time.sleep(0.5)  # importing torch and Hydra
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code and "interrupted" in err and "Traceback" not in err
    assert not (tmp_path / "root").exists()


def _train_cmd(root: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "train.py"),
        f"config={PRESET}",
        "seed=0",
        "scale=tiny",
        f"path={root}",
        "trainer.n_epochs=400",
        "trainer.save_freq=20",
        "trainer.test_freq=20",
        "trainer.progress=false",
        "device=cpu",
        *extra,
    ]


def _run_dir(root: Path) -> Path:
    return root / PRESET / "trainer.n_epochs=400,trainer.save_freq=20,trainer.test_freq=20" / "seed_0"


def _start(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_until_training(proc: subprocess.Popen, run_dir: Path, min_steps: int = 0) -> subprocess.Popen:
    """Return once ``proc`` holds the run and the run has ``min_steps`` checkpoints."""
    lock, deadline = run_dir / runs.LOCK_FILE, time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            holder = lock.read_text()
        except OSError:
            holder = ""
        if f"pid {proc.pid} on" in holder and len(runs.checkpoint_steps(run_dir)) >= min_steps:
            break
        time.sleep(0.02)
    return proc


def test_second_command_is_refused_and_sigterm_stops_resumably(tmp_path):
    """The issue's scenario: a live run, then the same command with resume=false; then SIGTERM, then resume."""
    root, straight = tmp_path / "live", tmp_path / "straight"
    first = _wait_until_training(_start(_train_cmd(root)), _run_dir(root), min_steps=2)
    # Frozen while the second command starts, so a fast machine cannot finish the 400 steps first; the lock
    # is still held (the process lives) and the SIGTERM sent while frozen is handled once it continues.
    first.send_signal(signal.SIGSTOP)
    record = (_run_dir(root) / ".hydra" / "overrides.yaml").read_text()
    second = subprocess.run(_train_cmd(root, "resume=false"), capture_output=True, text=True, timeout=120)
    assert second.returncode == 2 and f"pid {first.pid} on" in second.stderr and "Traceback" not in second.stderr
    assert (_run_dir(root) / ".hydra" / "overrides.yaml").read_text() == record  # refused before Hydra wrote
    first.send_signal(signal.SIGTERM)
    first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 143 and "run the same command again" in err and "Traceback" not in err
    assert not list(_run_dir(root).rglob("*.tmp"))
    assert runs.checkpoint_steps(_run_dir(root))[-1] < 400  # it really was stopped early
    resumed = subprocess.run(_train_cmd(root), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    subprocess.run(_train_cmd(straight), check=True, capture_output=True, timeout=300)
    a, b = (runs.load_checkpoint(_run_dir(r) / "checkpoints" / "resume.pt") for r in (root, straight))
    assert a["step"] == b["step"] == 400
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_a_command_that_passes_the_check_at_the_same_moment_is_refused_before_it_writes(tmp_path):
    """Two commands started together both pass the preflight's check of the lock; the second was then refused by
    training's lock only after Hydra had overwritten the live run's .hydra/ record (saying resume=false)."""
    root = tmp_path / "live"
    first = _wait_until_training(_start(_train_cmd(root)), _run_dir(root), min_steps=2)
    first.send_signal(signal.SIGSTOP)  # holds the lock, writes nothing while the second command runs
    try:
        before = _contents(_run_dir(root))
        assert "resume=false" not in before[".hydra/overrides.yaml"][0].decode()  # written once the lock was held
        # The second command as if it had checked the lock just before the first took it.
        racing = (
            "import sys\nfrom reactivation import runs\nruns.RunLock.holder = staticmethod(lambda run_dir: None)\n"
            "from reactivation.commands.train import main\nsys.argv = sys.argv[1:]\nmain()\n"
        )
        second = subprocess.run(
            [sys.executable, "-c", racing, *_train_cmd(root, "resume=false")[1:]],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2 and f"(pid {first.pid} on" in second.stderr, second.stderr
        assert _contents(_run_dir(root)) == before  # .hydra/, train.log and every other file as they were
    finally:
        first.send_signal(signal.SIGTERM)
        first.send_signal(signal.SIGCONT)
        first.communicate(timeout=60)


@pytest.mark.slow
def test_many_kills_at_random_moments_resume_bit_identical(tmp_path):
    """Slow fault injection: SIGKILL, SIGINT and SIGTERM at random moments, then resume to the end each time."""
    root, straight = tmp_path / "killed", tmp_path / "straight"
    rng = random.Random(0)
    for i in range(12):
        # Every third kill lands during start-up (imports, composition), the others during training.
        proc = _start(_train_cmd(root))
        if i % 3:
            _wait_until_training(proc, _run_dir(root))
        time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(rng.choice([signal.SIGKILL, signal.SIGINT, signal.SIGTERM]))
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, err
        allowed = {0, 130, 143, -signal.SIGKILL}
        if not i % 3:  # in the interpreter's first milliseconds, before Python or we handle signals: default action
            allowed |= {-signal.SIGINT, -signal.SIGTERM}
        assert proc.returncode in allowed, err
    subprocess.run(_train_cmd(root), check=True, capture_output=True, timeout=300)
    subprocess.run(_train_cmd(straight), check=True, capture_output=True, timeout=300)
    a, b = (runs.load_checkpoint(_run_dir(r) / "checkpoints" / "resume.pt") for r in (root, straight))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert not list(_run_dir(root).rglob("*.tmp"))
    assert (_run_dir(root) / "test_metrics.json").read_text() == (_run_dir(straight) / "test_metrics.json").read_text()


# 6. Damaged files give messages, and their advice works.


def test_empty_checkpoints_are_clear_errors(tiny_config, tmp_path):
    train(tiny_config(), tmp_path)
    runs.checkpoint_path(tmp_path, 5).write_bytes(b"")
    with pytest.raises(ReactivationError, match=r"step_000005\.pt is empty \(0 bytes\)"):
        load_run(tmp_path, device="cpu")
    (tmp_path / "checkpoints" / "resume.pt").write_bytes(b"")
    with pytest.raises(ReactivationError, match=r"resume\.pt is empty \(0 bytes\).*resume=false"):
        train(tiny_config(), tmp_path)


def test_a_resume_file_without_its_keys_is_a_clear_error_and_its_advice_works(tiny_config, tmp_path, monkeypatch):
    _interrupted_at(monkeypatch, tiny_config(), tmp_path, 4)  # unfinished: resume.pt holds step 2
    runs.save_checkpoint(tmp_path / "checkpoints" / "resume.pt", {"step": 2})
    with pytest.raises(ReactivationError, match=r"resume\.pt lacks 'model', 'task', 'config'.*resume=false"):
        train(tiny_config(), tmp_path)
    assert train(tiny_config(PRESET, "resume=false"), tmp_path)["step"] == 5  # the advice, run


@pytest.mark.parametrize("damage", ["truncated", "empty", "foreign", "deleted"])
def test_a_finished_run_with_an_unusable_resume_file_stays_finished_and_analysable(
    tiny_config, tmp_path, caplog, damage
):
    """Only resume=false was offered, which would throw the good final checkpoint away and retrain."""
    run_dir = tmp_path / "run"
    done = train(tiny_config(), run_dir)
    resume = run_dir / "checkpoints" / "resume.pt"
    if damage == "truncated":
        resume.write_bytes(resume.read_bytes()[:100])
    elif damage == "empty":
        resume.write_bytes(b"")
    elif damage == "foreign":  # a file of another kind
        runs.save_checkpoint(resume, {"step": 5})
    else:
        resume.unlink()
    before = _contents(run_dir)
    again = train(tiny_config(), run_dir)
    assert again == done  # finished, with the same result
    assert _contents(run_dir) == before  # nothing retrained or rewritten
    assert "but " + str(run_dir) + " is finished" in caplog.text and "nothing needs retraining" in caplog.text
    expected = runs.load_checkpoint(runs.checkpoint_path(run_dir, 5))["model"]
    loaded = load_run(run_dir, device="cpu").model.state_dict()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)
    # Its final checkpoint damaged too: nothing good is left, and the advice to start over works.
    runs.checkpoint_path(run_dir, 5).write_bytes(b"")
    if damage == "deleted":  # no resume.pt, no final checkpoint, but steps 0-4 saved: refused, not retrained
        before = _contents(run_dir)
        with pytest.raises(ReactivationError, match=r"resume\.pt is missing.*step_000004\.pt.*step_000005\.pt is emp"):
            train(tiny_config(), run_dir)
        assert _contents(run_dir) == before
    with pytest.raises(ReactivationError, match=r"resume\.pt .*resume=false"):
        train(tiny_config(), run_dir)
    assert train(tiny_config(PRESET, "resume=false"), run_dir)["step"] == 5


def test_a_deleted_final_checkpoint_is_rewritten_from_the_resume_file(tiny_config, tmp_path):
    """The advice for a corrupt final checkpoint (delete it, run the training command again) must not loop."""
    train(tiny_config(), tmp_path)
    final = runs.checkpoint_path(tmp_path, 5)
    expected = runs.load_checkpoint(final)["model"]
    final.write_bytes(final.read_bytes()[:50])
    with pytest.raises(ReactivationError, match="run the training command of .* again: a finished run rewrites"):
        load_run(tmp_path, device="cpu")
    final.unlink()
    assert train(tiny_config(), tmp_path)["step"] == 5
    restored = load_run(tmp_path, device="cpu").model.state_dict()
    assert all(torch.equal(restored[k], expected[k]) for k in expected)


# 8. A checkpoint copied from another run is not analysed as this run.


def test_a_checkpoint_of_another_preset_copied_into_a_run_is_refused(tiny_config, tmp_path):
    train(tiny_config(), tmp_path / "a")
    train(tiny_config("spatial_navigation/noisy_biased"), tmp_path / "b", preset="spatial_navigation/noisy_biased")
    (tmp_path / "a" / "checkpoints" / "step_000004.pt").write_bytes(
        (tmp_path / "b" / "checkpoints" / "step_000004.pt").read_bytes()
    )
    with pytest.raises(ReactivationError, match=r"step_000004\.pt was written by another run .*noisy_biased"):
        load_run(tmp_path / "a", step=4, device="cpu")


def test_a_final_checkpoint_copied_from_another_run_is_rewritten_by_the_training_command(tiny_config, tmp_path, caplog):
    """The analysis named the foreign file and suggested the training command, which said "already finished"."""
    a, b = tmp_path / "a", tmp_path / "b"
    train(tiny_config(), a, preset=PRESET)
    train(tiny_config("spatial_navigation/noisy_biased"), b, preset="spatial_navigation/noisy_biased")
    final = runs.checkpoint_path(a, 5)
    final.write_bytes(runs.checkpoint_path(b, 5).read_bytes())
    with pytest.raises(ReactivationError, match=r"step_000005\.pt was written by another run .*run the training com"):
        load_run(a, device="cpu")
    assert train(tiny_config(), a, preset=PRESET)["step"] == 5  # the suggested command
    assert "step_000005.pt was written by another run (preset 'spatial_navigation/noisy_biased'" in caplog.text
    ours = runs.load_checkpoint(a / "checkpoints" / "resume.pt")["model"]
    loaded = load_run(a, device="cpu").model.state_dict()
    assert all(torch.equal(loaded[k], ours[k]) for k in ours)
    # A final checkpoint of this very configuration but other weights (edited, or of another machine) too.
    state = runs.load_checkpoint(final)
    state["model"]["readout.weight"] += 1.0
    runs.save_checkpoint(final, state)
    train(tiny_config(), a, preset=PRESET)
    assert torch.equal(runs.load_checkpoint(final)["model"]["readout.weight"], ours["readout.weight"])


def test_a_periodic_checkpoint_of_another_run_is_not_promised_a_repair(tiny_config, tmp_path):
    train(tiny_config(), tmp_path / "a")
    train(tiny_config("spatial_navigation/noisy_biased"), tmp_path / "b", preset="spatial_navigation/noisy_biased")
    (tmp_path / "a" / "checkpoints" / "step_000004.pt").write_bytes(
        (tmp_path / "b" / "checkpoints" / "step_000004.pt").read_bytes()
    )
    with pytest.raises(ReactivationError, match="another run") as err:
        load_run(tmp_path / "a", step=4, device="cpu")
    assert "analyse another epoch=" in str(err.value) and "training command" not in str(err.value)


@pytest.mark.parametrize("damage", ["garbage", "empty", "deleted", "another run's"])
def test_a_damaged_config_yaml_of_a_finished_run_is_rewritten_by_the_suggested_command(tmp_path, caplog, damage):
    """The analysis said "no trained run ... train it with <command>", and that command said "already finished"."""
    overrides = [*TINY, f"path={tmp_path}"]
    run_dir = Path(compose_train([f"config={PRESET}", "seed=0", *overrides], with_hydra=True).hydra.run.dir)
    train(compose_train([f"config={PRESET}", "seed=0", *overrides]), run_dir, preset=PRESET)
    config = run_dir / runs.CONFIG_FILE
    original, checkpoints = config.read_bytes(), _contents(run_dir / "checkpoints")
    if damage == "garbage":
        config.write_text("seed: [0, 1\n  preset: {")
    elif damage == "empty":
        config.write_text("")
    elif damage == "deleted":
        config.unlink()
    else:  # copied over from a run of another preset
        other = {**runs.load_config(run_dir), "preset": "spatial_navigation/noisy_biased"}
        runs.save_config(run_dir, {**other, "task": {**other["task"], "biased": True}})
    with pytest.raises(ReactivationError, match="no trained run") as err:
        lookup.find_run(tmp_path, PRESET, 0, TINY, None)
    if damage in ("garbage", "empty"):  # the skipped folder is named, with what to do
        assert "run its training command again" in caplog.text and "without retraining" in caplog.text
    command = shlex.split(re.split(r"(?:Train|Rewrite) it with:\n", str(err.value))[1].splitlines()[0])
    assert command[:2] == ["python", "train.py"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *command[2:]], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and "already finished" in done.stderr + done.stdout, done.stderr
    assert config.read_bytes() == original  # rewritten from the checkpoints' record of the run
    assert _contents(run_dir / "checkpoints") == checkpoints  # nothing retrained
    assert lookup.find_run(tmp_path, PRESET, 0, TINY, None) == run_dir


# 7. Files and logs damaged or in the way.


def test_a_full_disk_is_a_message_and_keeps_the_old_file(tmp_path, capsys):
    path = tmp_path / "metrics.json"
    runs.write_json_atomic(path, {"old": 1})

    def full(f):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(ReactivationError, match=r"could not write .*metrics\.json: No space left on device; free"):
        atomic(path, full)
    assert json.loads(path.read_text()) == {"old": 1} and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]

    def write_fails():
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))

    with pytest.raises(SystemExit) as exit_info:
        exit_on_error(write_fails)()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "No space left on device" in err and "free some space" in err


def test_a_torn_last_line_of_the_metrics_log_is_dropped_with_a_warning(tmp_path, caplog):
    good = [{"split": "train", "step": 1, "loss": 0.5}, {"split": "test", "step": 2, "loss": 0.4}]
    torn = '{"split": "train", "step": 3, "lo'  # a kill while appending: no newline after it
    (tmp_path / runs.METRICS_LOG).write_text("".join(json.dumps(e) + "\n" for e in good) + torn)
    with runs.MetricsLog(tmp_path, resume_step=3) as log:
        assert log.splits == {"train": {"1": {"loss": 0.5}}, "test": {"2": {"loss": 0.4}}}
    assert [json.loads(x) for x in (tmp_path / runs.METRICS_LOG).read_text().splitlines()] == good
    assert "dropping its last line (line 3), torn by an interrupted write" in caplog.text


@pytest.mark.parametrize(
    "damaged",
    [
        "null",
        "[1, 2]",
        '{"split": "train"}',
        '{"split": "x", "step": 1}',
        '{"split": "train", "step": true, "loss": 1.0}',
        '{"split": "train", "step": 1, "loss": "low"}',
        '{"split": "train", "st',  # torn, but not the last line
        "\udcff",  # bytes that are not UTF-8
    ],
)
def test_a_damaged_metrics_line_stops_the_resume_naming_it_and_nothing_is_rewritten(
    tiny_config, tmp_path, monkeypatch, damaged
):
    """Every damaged line used to be dropped and the log and summaries rewritten without them: lost for good."""
    _interrupted_at(monkeypatch, tiny_config(), tmp_path, 4)  # resume.pt holds step 2; steps 0-3 are logged
    path = tmp_path / runs.METRICS_LOG
    lines = path.read_text().splitlines()
    damaged_bytes = damaged.encode(errors="surrogateescape")
    path.write_bytes(b"\n".join([lines[0].encode(), damaged_bytes, *(x.encode() for x in lines[1:])]) + b"\n")
    before = _contents(tmp_path)
    with pytest.raises(
        ReactivationError, match=r"(?s)metrics\.jsonl is damaged .*\n  line 2: .*repair each line"
    ) as err:
        train(tiny_config(), tmp_path)
    assert _contents(tmp_path) == before  # metrics.jsonl, the summaries and config.yaml untouched
    assert "resume=false" in str(err.value)
    # The fix it names: delete (or repair) that line, and run the training command again.
    path.write_text("\n".join(lines) + "\n")
    assert train(tiny_config(), tmp_path)["step"] == 5
    steps = {(e["split"], e["step"]) for e in map(json.loads, path.read_text().splitlines())}
    assert steps == {("train", s) for s in range(1, 6)} | {("test", s) for s in (0, 2, 4, 5)}


def test_several_damaged_metrics_lines_are_all_named_and_a_damaged_last_line_with_its_newline_too(tmp_path):
    good = json.dumps({"split": "train", "step": 1, "loss": 0.5})
    text = "\n".join([good, "oops", good, "[]", '{"split": "test", "step": 2, "lo']) + "\n"
    (tmp_path / runs.METRICS_LOG).write_text(text)
    with pytest.raises(ReactivationError) as err:
        runs.MetricsLog(tmp_path, resume_step=3)
    assert re.findall(r"line (\d+):", str(err.value)) == ["2", "4", "5"]
    assert (tmp_path / runs.METRICS_LOG).read_text() == text


def test_a_stray_empty_config_yaml_is_skipped_with_a_warning(tiny_config, tmp_path, caplog):
    train(tiny_config(), tmp_path / "run", preset=PRESET)
    (tmp_path / "stray").mkdir()
    (tmp_path / "stray" / "config.yaml").write_text("")
    assert [d.name for d, _ in runs.iter_runs(tmp_path)] == ["run"]
    assert "holds no training config" in caplog.text
    with pytest.raises(ReactivationError, match="stray/config.yaml holds no training config"):
        runs.load_config(tmp_path / "stray")


# 9. Files are as readable as the user's umask says, not 0600.


def test_written_files_follow_the_umask(tiny_config, tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    train(tiny_config(), tmp_path)
    files = [
        tmp_path / "config.yaml",
        tmp_path / "metrics.jsonl",
        tmp_path / "test_metrics.json",
        runs.checkpoint_path(tmp_path, 5),
        tmp_path / "checkpoints" / "resume.pt",
    ]
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {oct(0o666 & ~mask)}


# 10. What is left when a run stops for good: a lost resume.pt, a divergence, a damaged config.yaml (issue 25).


def _tiny_run_dir(root: Path, *extra: str) -> Path:
    """Where ``train.py config=PRESET seed=0 <TINY> <extra> path=<root>`` trains its run."""
    command = [f"config={PRESET}", "seed=0", *TINY, *extra, f"path={root}"]
    return Path(compose_train(command, with_hydra=True).hydra.run.dir)


def test_an_unfinished_run_without_its_resume_file_is_refused_and_each_choice_named_works(
    tiny_config, tmp_path, monkeypatch
):
    """It used to start over silently: metrics.jsonl emptied and the step checkpoints overwritten."""
    run_dir = _tiny_run_dir(tmp_path)
    cfg = tiny_config(PRESET, f"path={tmp_path}")
    _interrupted_at(monkeypatch, cfg, run_dir, 5, preset=PRESET)  # step checkpoints 0, 2, 4 and metrics of steps 0-4
    (run_dir / "checkpoints" / "resume.pt").unlink()
    before = _contents(run_dir)
    with pytest.raises(ReactivationError) as err:
        train(cfg, run_dir, preset=PRESET)
    assert _contents(run_dir) == before  # every file's bytes (and time) as they were
    message = str(err.value)
    assert message.startswith(f"{run_dir} cannot be resumed: its checkpoints/resume.pt is missing")
    assert "its last intact step checkpoint is checkpoints/step_000004.pt" in message
    assert "metrics.jsonl logs steps up to 4" in message
    assert "with resume=false, which deletes those checkpoints and metrics" in message and "epoch=4" in message
    # The analyses read what it saved, with epoch=4 ...
    assert lookup.find_run(tmp_path, PRESET, 0, TINY, 4) == run_dir
    saved = runs.load_checkpoint(runs.checkpoint_path(run_dir, 4))["model"]
    loaded = load_run(run_dir, step=4, device="cpu").model.state_dict()
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)
    # ... and, asked for the final one, do not say "finish it with" the command that refuses, but what works.
    with pytest.raises(ReactivationError, match=r"cannot finish it: .*resume\.pt does not exist") as analysis:
        lookup.find_run(tmp_path, PRESET, 0, TINY, None)
    assert "Finish it" not in str(analysis.value) and "epoch=<step> (saved: [0, 2, 4])" in str(analysis.value)
    command = shlex.split(str(analysis.value).split("with:\n  ")[1].splitlines()[0])
    assert command[:2] == ["python", "train.py"] and command[-1] == "resume=false"
    done = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *command[2:]], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    # Retrained from scratch: no step of the old run left, each step logged once.
    assert runs.checkpoint_steps(run_dir) == [0, 2, 4, 5]
    logged = [(e["split"], e["step"]) for e in map(json.loads, (run_dir / runs.METRICS_LOG).read_text().splitlines())]
    assert sorted(logged) == sorted({("train", s) for s in range(1, 6)} | {("test", s) for s in (0, 2, 4, 5)})
    assert lookup.find_run(tmp_path, PRESET, 0, TINY, None) == run_dir


def test_a_run_without_its_resume_file_that_has_nothing_past_step_0_starts_afresh(tiny_config, tmp_path):
    """Killed between step_000000.pt and the first resume.pt: the same command must simply train it."""
    train(tiny_config(), tmp_path)
    for step in (2, 4, 5):
        runs.checkpoint_path(tmp_path, step).unlink()
    (tmp_path / "checkpoints" / "resume.pt").unlink()
    entries = (tmp_path / runs.METRICS_LOG).read_text().splitlines()
    (tmp_path / runs.METRICS_LOG).write_text(entries[0] + "\n")  # the test of step 0, logged before it was saved
    assert json.loads(entries[0])["step"] == 0
    assert not runs.beyond_step_zero(tmp_path)
    assert train(tiny_config(), tmp_path)["step"] == 5


def test_an_unfinished_run_being_trained_is_not_given_a_command_that_would_be_refused(
    tiny_config, tmp_path, monkeypatch
):
    run_dir = _tiny_run_dir(tmp_path)
    _interrupted_at(monkeypatch, tiny_config(), run_dir, 3, preset=PRESET)  # checkpoints 0, 2
    with runs.RunLock(run_dir):  # another process trains it
        with pytest.raises(ReactivationError, match=rf"being trained now \(pid {os.getpid()} on .*Wait") as err:
            lookup.find_run(tmp_path, PRESET, 0, TINY, None)
    assert "Finish it" not in str(err.value) and "epoch=<step> (saved: [0, 2])" in str(err.value)
    with pytest.raises(ReactivationError, match=r"incomplete \(2 of 5 steps\)\. Finish it with:\n  python train\.py"):
        lookup.find_run(tmp_path, PRESET, 0, TINY, None)  # released: its command finishes it


def test_the_analysis_says_a_diverged_run_diverged_and_gives_advice_that_works(tmp_path, monkeypatch):
    """It said "incomplete ... Finish it with: <the same command>", which resumes the run and diverges again."""
    overrides = [*TINY, "trainer.n_epochs=10"]
    run_dir = _tiny_run_dir(tmp_path, "trainer.n_epochs=10")
    cfg = compose_train([f"config={PRESET}", "seed=0", *overrides])
    with monkeypatch.context() as patch:
        _at_step(patch, 7, lambda run: setattr(run.model, "sigma_rec", 1e15))  # the noise jumps: step 7 diverges
        with pytest.raises(ReactivationError, match="diverged at step 7") as trained:
            train(cfg, run_dir, preset=PRESET)
    marker = json.loads((run_dir / runs.DIVERGED_FILE).read_text())
    assert marker["step"] == 7 and marker["last_checkpoint"] == 6 and marker["message"] == str(trained.value)
    with pytest.raises(ReactivationError) as err:
        lookup.find_run(tmp_path, PRESET, 0, overrides, None)
    message = str(err.value)
    assert message.startswith(f"the run {run_dir} is incomplete (6 of 10 steps): its training diverged at step 7 (")
    assert training.divergence_advice(1e-3) in message  # the advice training gives
    assert (
        "Finish it" not in message and "resume=false" not in message and "epoch=<step> (saved: [0, 2, 4, 6])" in message
    )
    suggested = shlex.split(message.split("For example:\n  ")[1].splitlines()[0])
    assert (
        "trainer.lr=0.0001" in suggested and "then add trainer.lr=0.0001 to the analysis's train_overrides" in message
    )
    done = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *suggested[2:]], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    new_dir = lookup.find_run(tmp_path, PRESET, 0, [*overrides, "trainer.lr=0.0001"], None)  # a new run, finished
    assert new_dir != run_dir and runs.checkpoint_steps(new_dir)[-1] == 10
    # Training it again after all (here without the jump) finishes it: the marker goes with the divergence.
    assert train(cfg, run_dir, preset=PRESET)["step"] == 10
    assert not (run_dir / runs.DIVERGED_FILE).exists()
    assert lookup.find_run(tmp_path, PRESET, 0, overrides, None) == run_dir


def test_a_divergence_record_older_than_the_last_checkpoint_is_not_believed(tiny_config, tmp_path, monkeypatch):
    _interrupted_at(monkeypatch, tiny_config(), tmp_path, 5)  # checkpoints 0, 2, 4
    runs.mark_diverged(tmp_path, 3, "training loss 1e+30", "diverged at step 3")  # resumed past it since
    assert runs.divergence(tmp_path) is None
    runs.mark_diverged(tmp_path, 5, "training loss 1e+30", "diverged at step 5")
    assert runs.divergence(tmp_path) == {
        "step": 5,
        "cause": "training loss 1e+30",
        "last_checkpoint": 4,
        "message": "diverged at step 5",
    }
    (tmp_path / runs.DIVERGED_FILE).write_text("{")  # torn by hand: tells nothing
    assert runs.divergence(tmp_path) is None


@pytest.mark.parametrize("damage", ["garbage", "deleted"])
def test_the_analysis_names_a_damaged_config_yaml_where_the_run_is_and_the_command_that_rewrites_it(
    tiny_config, tmp_path, damage
):
    """It said "no trained run ... Train it with", as if nothing were there."""
    run_dir = _tiny_run_dir(tmp_path)
    train(tiny_config(PRESET, f"path={tmp_path}"), run_dir, preset=PRESET)
    config = run_dir / runs.CONFIG_FILE
    original = config.read_bytes()
    if damage == "garbage":
        config.write_text("seed: [0, 1\n  preset: {")
    else:
        config.unlink()
    with pytest.raises(ReactivationError) as err:
        lookup.find_run(tmp_path, PRESET, 0, TINY, None)
    message = str(err.value)
    problem = "is damaged (not a training config that train.py wrote)" if damage == "garbage" else "is missing"
    assert f"{run_dir} is where that run is trained and holds checkpoints, but its config.yaml {problem}" in message
    assert "rewrites config.yaml from them" in message and "Train it with" not in message
    command = shlex.split(message.split("Rewrite it with:\n  ")[1].splitlines()[0])
    assert command[:2] == ["python", "train.py"]
    # The command, in-process (the subprocess is run by the test of the training side above).
    assert train(compose_train(command[2:]), run_dir, preset=PRESET)["step"] == 5
    assert config.read_bytes() == original and lookup.find_run(tmp_path, PRESET, 0, TINY, None) == run_dir


def test_a_damaged_config_yaml_elsewhere_or_without_checkpoints_is_not_taken_for_the_run(tmp_path):
    run_dir = _tiny_run_dir(tmp_path)
    run_dir.mkdir(parents=True)
    (run_dir / runs.CONFIG_FILE).write_text("")  # no checkpoints beside it: nothing was trained there
    (tmp_path / "elsewhere" / runs.CHECKPOINT_DIR).mkdir(parents=True)
    (tmp_path / "elsewhere" / runs.CONFIG_FILE).write_text("")
    with pytest.raises(ReactivationError, match=r"under .*/\. Train it with:\n  python train\.py") as err:
        lookup.find_run(tmp_path, PRESET, 0, TINY, None)
    assert "can be read" not in str(err.value)


# 10. Interrupting a local sweep or a reproduction (issue 25, item 5): one message and the documented status, no
# joblib traceback, and the workers stop with the command.


def _sweep_cmd(root: Path) -> list[str]:
    """Two tiny runs in parallel (``hydra/launcher=local``), in the run directories of :func:`_run_dir`."""
    cmd = _train_cmd(root, "hydra/launcher=local")
    cmd[cmd.index("seed=0")] = "seed=0,1"
    return [*cmd[:2], "-m", *cmd[2:]]


def _group_gone(pgid: int, within_s: float = 20.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize(
    "signum, whom, code",
    [
        (signal.SIGINT, "group", 130),  # a terminal's Ctrl-C: the sweep's process and every worker get it
        # `kill <pid>`: the sweep's process only (it kept training and exited 0); it also resumes the sweep to the
        # end, 35 s, so it runs with the slow checks
        pytest.param(signal.SIGTERM, "process", 143, marks=pytest.mark.slow),
    ],
)
def test_a_local_sweep_stops_on_a_signal_with_one_message_and_resumes(tmp_path, signum, whom, code):
    """Before: a traceback (joblib's TerminatedWorkerError) or one message per worker and a "leaked semaphore"
    warning; for SIGTERM to the sweep's process alone, training went on and the command exited 0."""
    root = tmp_path / "root"
    run_dirs = [_run_dir(root), _run_dir(root).parent / "seed_1"]
    proc = subprocess.Popen(_sweep_cmd(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if all(len(runs.checkpoint_steps(d)) >= 2 for d in run_dirs):  # both workers are training
            break
        time.sleep(0.05)
    # Frozen while signalled, so that neither run can finish its 400 steps first; the signal is handled on SIGCONT.
    os.killpg(proc.pid, signal.SIGSTOP)
    if whom == "group":
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    os.killpg(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err and "TerminatedWorkerError" not in err and "leaked" not in err, err
    assert err.count("interrupted") == 1, err  # the sweep's message; its workers leave it to it
    assert _group_gone(proc.pid)  # no worker is left training
    assert all(runs.checkpoint_steps(d)[-1] < 400 for d in run_dirs)  # really stopped early
    assert not list(root.rglob("*.tmp"))
    if whom == "group":  # the resume is the same either way; it costs a sweep's start-up (~15 s here)
        return
    resumed = subprocess.run(_sweep_cmd(root), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert all(runs.load_checkpoint(d / "checkpoints" / "resume.pt")["step"] == 400 for d in run_dirs)


def test_a_child_of_run_child_leaves_the_interrupt_message_to_its_parent(tmp_path):
    # parent (exit_on_error + run_child) -> child (exit_on_error, waiting): SIGTERM to the parent stops both, and
    # only the parent says so (before: both did, and a reproduction's training said it once per worker too).
    ready = tmp_path / "ready"
    child = (
        "import time\nfrom reactivation.cli import exit_on_error\n"
        f"exit_on_error(lambda: (open({str(ready)!r}, 'w').write('1'), time.sleep(120)))()\n"
    )
    parent, err = _terminated_parent_of(tmp_path, child, ready.exists)  # once the child is inside its entry point
    assert parent.returncode == 143 and err.count("interrupted") == 1 and "Traceback" not in err, err


@pytest.mark.skipif(not hasattr(signal, "sigtimedwait"), reason="workers start blocked only where sigtimedwait is")
def test_supervising_starts_workers_blocked_and_stops_them_on_a_signal_to_this_process(tmp_path):
    report = tmp_path / "report"
    worker = (
        "import os, signal, sys, time\n"
        "blocked = sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, []))\n"
        "open(sys.argv[1], 'w').write(f\"{blocked} {os.environ.get('REACTIVATION_SUPERVISOR')}\")\n"
        "signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])\n"  # as quiet_startup does once it holds it
        "time.sleep(120)\n"
    )
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    mask, env = signal.pthread_sigmask(signal.SIG_BLOCK, []), os.environ.get(processes.SUPERVISOR_ENV)
    with pytest.raises(processes.Terminated):
        with processes.supervising():
            child = subprocess.Popen([sys.executable, "-c", worker, str(report)])
            deadline = time.monotonic() + 60
            while not (report.exists() and report.read_text()) and time.monotonic() < deadline:
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGTERM)  # to this process only: the block sends it on to the worker
            assert child.wait(timeout=30) == -signal.SIGTERM
    blocked = sorted({int(s) for s in mask} | {int(signal.SIGINT), int(signal.SIGTERM)})
    assert report.read_text() == f"{blocked} {os.getpid()}"
    # Everything as it was: handlers, mask, environment.
    assert {s: signal.getsignal(s) for s in handlers} == handlers
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == mask and os.environ.get(processes.SUPERVISOR_ENV) == env


def test_supervising_reports_a_workers_interrupt_as_one_and_keeps_its_errors():
    with pytest.raises(processes.Terminated):
        with processes.supervising():
            raise SystemExit(143)  # as joblib raises a worker's exit after SIGTERM
    with pytest.raises(KeyboardInterrupt) as ctrl_c:
        with processes.supervising():
            raise SystemExit(130)
    assert not isinstance(ctrl_c.value, processes.Terminated)
    with pytest.raises(SystemExit, match="2"):  # a worker's error (its message already printed): as it was
        with processes.supervising():
            raise SystemExit(2)


@pytest.mark.slow
def test_an_interrupted_reproduction_with_local_training_prints_one_message(tmp_path):
    root = tmp_path / "root"
    cmd = [
        sys.executable,
        str(ROOT / "reproduce.py"),
        "scale=tiny",
        f"path={root}",
        "seeds=[0]",
        "families=[sn]",
        "device=cpu",
        "progress=false",
        "launcher=local",
        'train_args=["trainer.n_epochs=3000"]',
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and len(list(root.rglob("step_*.pt"))) < 4:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)  # as a scheduler stops the job: reproduce stops its training group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "TerminatedWorkerError" not in err and err.count("interrupted") == 1, err
    assert list(root.rglob("step_*.pt")) and not list(root.rglob("*.tmp"))

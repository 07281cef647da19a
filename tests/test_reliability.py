"""Faults around training: divergence, concurrent writers, signals, leftovers, damaged files, file modes."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from reactivation import ReactivationError, processes, runs
from reactivation.cli import exit_on_error
from reactivation.loading import load_run
from reactivation.training import train

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


# 1. The guard: a diverged run is never saved as good and never finishes.


def test_huge_learning_rate_stops_without_saving_non_finite_weights(tiny_config, tmp_path):
    # lr=1e6 makes the first update blow the weights up while the loss computed before it is still finite.
    with pytest.raises(ReactivationError, match=r"diverged at step 1 .*step_000000\.pt.*Lower trainer\.lr"):
        train(tiny_config(PRESET, "trainer.lr=1e6", "trainer.save_freq=1"), tmp_path)
    assert runs.checkpoint_steps(tmp_path) == [0]
    assert _finite_weights(runs.checkpoint_path(tmp_path, 0))
    assert runs.load_checkpoint(tmp_path / "checkpoints" / "resume.pt")["step"] == 0  # not finished


def test_a_one_step_diverged_run_does_not_finish(tiny_config, tmp_path):
    with pytest.raises(ReactivationError, match="diverged at step 1"):
        train(tiny_config(PRESET, "trainer.lr=1e6", "trainer.n_epochs=1"), tmp_path)
    assert runs.checkpoint_steps(tmp_path) == [0]
    assert json.loads((tmp_path / "test_metrics.json").read_text()).keys() == {"0"}


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
    dead = tmp_path / f".kl_0.json.{runs._host()}-999999.abc.tmp"  # pid 999999: not running
    live = tmp_path / f".kl_0.json.{runs._host()}-{os.getpid()}.abc.tmp"  # a writer still at work
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
        runs._atomic(path, write)
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["big.json"]


def test_sigterm_stops_a_child_group_with_its_parent(tmp_path):
    # parent (exit_on_error + run_child) -> child -> grandchild; SIGTERM to the parent must stop all three.
    pids = tmp_path / "pids"
    child = (
        "import os, subprocess, sys, time; g = subprocess.Popen([sys.executable, '-c', 'import time; "
        f"time.sleep(120)']); open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{g.pid}}'); time.sleep(120)"
    )
    script = tmp_path / "parent.py"
    script.write_text(
        "import sys\nfrom reactivation.cli import exit_on_error\nfrom reactivation.processes import run_child\n"
        f"exit_on_error(run_child)([sys.executable, '-c', {child!r}])\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (pids.exists() and pids.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    parent.send_signal(signal.SIGTERM)
    _, err = parent.communicate(timeout=60)
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


def test_a_resume_file_without_its_keys_is_a_clear_error(tiny_config, tmp_path):
    train(tiny_config(), tmp_path)
    runs.save_checkpoint(tmp_path / "checkpoints" / "resume.pt", {"step": 5})
    with pytest.raises(ReactivationError, match=r"resume\.pt lacks 'model', 'task', 'config'.*resume=false"):
        train(tiny_config(), tmp_path)


def test_a_deleted_final_checkpoint_is_rewritten_from_the_resume_file(tiny_config, tmp_path):
    """The advice for a corrupt final checkpoint (delete it, run the training command again) must not loop."""
    train(tiny_config(), tmp_path)
    final = runs.checkpoint_path(tmp_path, 5)
    expected = runs.load_checkpoint(final)["model"]
    final.write_bytes(final.read_bytes()[:50])
    with pytest.raises(ReactivationError, match="delete it and run the training command"):
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


# 7. Files and logs damaged or in the way.


def test_a_full_disk_is_a_message_and_keeps_the_old_file(tmp_path, capsys):
    path = tmp_path / "metrics.json"
    runs.write_json_atomic(path, {"old": 1})

    def full(f):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(ReactivationError, match=r"could not write .*metrics\.json: No space left on device; free"):
        runs._atomic(path, full)
    assert json.loads(path.read_text()) == {"old": 1} and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]

    def write_fails():
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))

    with pytest.raises(SystemExit) as exit_info:
        exit_on_error(write_fails)()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "No space left on device" in err and "free some space" in err


def test_damaged_lines_of_the_metrics_log_are_dropped_on_resume(tmp_path):
    good = [{"split": "train", "step": 1, "loss": 0.5}, {"split": "test", "step": 2, "loss": 0.4}]
    lines = [
        json.dumps(good[0]),
        "null",
        "[1, 2]",
        '{"split": "train"}',
        '{"split": "x", "step": 1}',
        json.dumps(good[1]),
        '{"split": "train", "st',
    ]
    (tmp_path / runs.METRICS_LOG).write_text("\n".join(lines) + "\n")
    with runs.MetricsLog(tmp_path, resume_step=3) as log:
        assert log.splits == {"train": {"1": {"loss": 0.5}}, "test": {"2": {"loss": 0.4}}}
    assert [json.loads(x) for x in (tmp_path / runs.METRICS_LOG).read_text().splitlines()] == good


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

"""Tasks: the SN trajectory generator and its wall rule, the HD task, Batch contents, build_task."""

import math
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from reactivation import ConfigError
from reactivation.codes import CartesianCode, CosSinCode, HeadDirectionCells, PlaceCells, wrap_angle
from reactivation.config import TRAIN_CONFIG_DIR
from reactivation.config.schema import task_schema_name
from reactivation.tasks import TASKS, Batch, HeadDirectionTask, SpatialNavigationTask, avoid_walls, build_task

ROOT = Path(__file__).resolve().parent.parent


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def sn_task(biased: bool = False, seed: int = 0, **kwargs) -> SpatialNavigationTask:
    return SpatialNavigationTask(PlaceCells.random(512, 0.2, 2.2, 2.2, gen(seed)), biased=biased, **kwargs)


@pytest.fixture(scope="module")
def sn_unbiased():
    return sn_task().simulate(1000, gen(11))


@pytest.fixture(scope="module")
def sn_biased():
    return sn_task(biased=True).simulate(1000, gen(12))


# --- SN batch contents ----------------------------------------------------------------------------------


def test_sn_batch_shapes_and_dtypes():
    task = sn_task(sequence_length=20)
    b = task.sample(8, gen(1))
    assert isinstance(b, Batch)
    assert b.inputs.shape == (8, 20, 2) and b.init_code.shape == (8, 512) and b.targets.shape == (8, 20, 512)
    assert b.latent.shape == (8, 20, 2) and b.init_latent.shape == (8, 2)
    assert all(t.dtype == torch.float32 for t in (b.inputs, b.init_code, b.targets, b.latent, b.init_latent))
    assert (task.n_in, task.n_code, task.latent_dim) == (2, 512, 2)
    positions, displacements = task.simulate(8, gen(1))
    assert positions.shape == (8, 22, 2) and displacements.shape == (8, 21, 2)


@pytest.mark.parametrize("biased", [False, True])
def test_sn_targets_are_start_plus_cumulative_input(biased):
    task = sn_task(biased=biased)
    b = task.sample(50, gen(2))
    # docs/spec.md §2 identity: target_pos_k = pos_1 + sum_{j<=k} x_j.
    torch.testing.assert_close(b.latent, b.init_latent.unsqueeze(1) + b.inputs.cumsum(1), atol=1e-5, rtol=0)
    torch.testing.assert_close(b.targets, task.code.encode(b.latent))
    torch.testing.assert_close(b.init_code, task.code.encode(b.init_latent))
    # The batch is the raw simulation with the first displacement dropped.
    positions, displacements = task.simulate(50, gen(2))
    torch.testing.assert_close(positions[:, 1:] - positions[:, :-1], displacements, atol=1e-6, rtol=0)
    assert torch.equal(b.init_latent, positions[:, 1]) and torch.equal(b.inputs, displacements[:, 1:])


def test_sn_decoding_true_targets_hits_decoder_floor():
    task = sn_task(seed=0)
    b = task.sample(200, gen(3))
    err = task.decoding_error(b.targets, b.latent)
    assert 1.1e-3 <= err.item() <= 1.5e-3
    torch.testing.assert_close(err, ((task.decode(b.targets) - b.latent) ** 2).mean())


def test_sn_seeding():
    task = sn_task(sequence_length=10)
    a, b, c = task.sample(16, gen(5)), task.sample(16, gen(5)), task.sample(16, gen(6))
    for name in ("inputs", "init_code", "targets", "latent", "init_latent"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.inputs, c.inputs) and not torch.equal(a.init_latent, c.init_latent)


# --- SN statistics (docs/spec.md §2) ----------------------------------------------------------------------------


def test_sn_unbiased_statistics(sn_unbiased):
    positions, displacements = sn_unbiased
    # Rayleigh mean b sqrt(pi/2) dt = 0.0205 m, lowered by slowing near walls; sampling s.e. ~5e-5.
    assert displacements[:, 1:].norm(dim=-1).mean().item() == pytest.approx(0.0197, abs=4e-4)
    radius = positions.norm(dim=-1)
    assert radius.median().item() == pytest.approx(0.93, abs=0.03)
    assert radius[:, 50:].median().item() == pytest.approx(0.96, abs=0.04)
    overshoot = (positions.abs() > 1.1).any(-1).float().mean().item()
    assert 0 < overshoot < 0.03  # no clipping, but the wall rule keeps walkers in


def test_sn_biased_statistics(sn_biased):
    positions, displacements = sn_biased
    assert displacements[:, 1:].norm(dim=-1).mean().item() == pytest.approx(0.0177, abs=4e-4)
    ring = positions[:, 50:].norm(dim=-1)
    assert 0.30 <= ring.median().item() <= 0.36
    assert ring.quantile(0.25).item() > 0.25 and ring.quantile(0.75).item() < 0.42


def test_sn_center_start():
    task = sn_task(init_pos="center", anchor_point=(0.3, -0.2), sequence_length=5)
    positions, _ = task.simulate(4, gen(7))
    torch.testing.assert_close(positions[:, 0], torch.tensor([[0.3, -0.2]]).expand(4, 2))
    with pytest.raises(ValueError, match="init_pos"):
        sn_task(init_pos="corner")


# --- wall rule ------------------------------------------------------------------------------------------


def test_wall_rule_turns_parallel_and_slows():
    task = sn_task(sequence_length=1)
    pos = torch.tensor([[1.08, 0.0], [0.0, 0.0], [1.08, 0.0]])
    heading = torch.tensor([0.3, 0.3, math.pi - 0.2])  # towards the right wall; centre; away from the wall
    length = torch.full((3,), 0.02)
    new_pos, new_heading, disp = task.step(pos, heading, length, torch.zeros(3))
    assert new_heading[0].item() == pytest.approx(math.pi / 2)  # now parallel to the wall
    expected = 0.02 * 0.25 * torch.tensor([math.cos(0.3), math.sin(0.3)])  # old heading, speed x 0.25
    torch.testing.assert_close(disp[0], expected)
    torch.testing.assert_close(disp[1], 0.02 * torch.tensor([math.cos(0.3), math.sin(0.3)]))
    torch.testing.assert_close(disp[2], 0.02 * torch.tensor([math.cos(math.pi - 0.2), math.sin(math.pi - 0.2)]))
    torch.testing.assert_close(new_heading[1:], heading[1:])
    torch.testing.assert_close(new_pos, pos + disp)
    # The random turn adds on top of the wall turn.
    _, h, _ = task.step(pos[:1], torch.tensor([-0.4]), length[:1], torch.tensor([0.1]))
    assert h.item() == pytest.approx(-math.pi / 2 + 0.1)


def test_wall_rule_near_and_past_walls():
    pos = torch.tensor([[1.12, 0.0], [0.0, 1.08], [-1.0, 0.0], [0.3, -1.075], [-1.11, 0.2]])
    heading = torch.tensor([0.3, math.pi / 2 + 0.5, math.pi, -math.pi / 2 - 0.1, 3 * math.pi - 0.1])
    near, turn = avoid_walls(pos, heading, 2.2, 2.2, 0.03)
    assert near.tolist() == [True, True, False, True, True]  # past a wall (d < 0) counts as near
    # a = heading - wall normal, wrapped: 0.3 (right), 0.5 (top), -0.1 (bottom: -pi/2 - 0.1 - 3pi/2), -0.1 (left).
    expected = [math.pi / 2 - 0.3, math.pi / 2 - 0.5, 0.0, -(math.pi / 2 - 0.1), -(math.pi / 2 - 0.1)]
    torch.testing.assert_close(turn, torch.tensor(expected))


@pytest.mark.parametrize(
    "corner, heading, first_wall_angle",
    [
        ((1.09, 1.09), math.pi / 4 + 0.1, 0.0),  # right beats top
        ((-1.09, 1.09), 3 * math.pi / 4 + 0.1, math.pi / 2),  # top beats left
        ((-1.09, -1.09), -3 * math.pi / 4 + 0.1, math.pi),  # left beats bottom
        ((1.09, -1.09), -math.pi / 4 + 0.1, 0.0),  # right beats bottom
    ],
)
def test_wall_rule_tie_order(corner, heading, first_wall_angle):
    near, turn = avoid_walls(torch.tensor([corner]), torch.tensor([heading]), 2.2, 2.2, 0.03)
    a = wrap_angle(torch.tensor(heading - first_wall_angle)).item()
    assert near.item()
    assert turn.item() == pytest.approx(math.copysign(math.pi / 2 - abs(a), a), abs=1e-6)


# --- head direction -------------------------------------------------------------------------------------


def hd_task(biased: bool = False, **kwargs) -> HeadDirectionTask:
    return HeadDirectionTask(HeadDirectionCells(512, math.pi / 6), biased=biased, **kwargs)


def test_hd_batch_contents():
    task = hd_task()
    b = task.sample(200, gen(20))
    assert b.inputs.shape == (200, 100, 1) and b.init_code.shape == (200, 512) and b.targets.shape == (200, 100, 512)
    assert b.latent.shape == (200, 100, 1) and b.init_latent.shape == (200, 1)
    assert (task.n_in, task.n_code, task.latent_dim) == (1, 512, 1)
    assert all(t.dtype == torch.float32 for t in (b.inputs, b.init_code, b.targets, b.latent, b.init_latent))
    for angles in (b.latent, b.init_latent):
        assert ((angles >= -math.pi) & (angles < math.pi)).all()
    err = wrap_angle(b.latent - (b.init_latent.unsqueeze(1) + b.inputs.cumsum(1)))
    assert err.abs().max() < 1e-4
    torch.testing.assert_close(b.targets, task.code.encode(b.latent))
    assert (b.targets.amax(-1) <= 1).all() and (b.targets.amax(-1) > 0.999).all()
    assert task.decoding_error(b.targets, b.latent).item() < 1e-4
    # Uniform start covers the circle.
    assert b.init_latent.min() < -2.8 and b.init_latent.max() > 2.8
    # Inputs: N(0, 11.52) rad/s times dt.
    assert b.inputs.mean().item() == pytest.approx(0.0, abs=0.006)
    assert b.inputs.std().item() == pytest.approx(0.2304, abs=0.005)


def test_hd_biased_turns_counterclockwise():
    b = hd_task(biased=True).sample(200, gen(21))
    assert (b.inputs >= 0).all()
    assert b.inputs.mean().item() == pytest.approx(0.2304 * math.sqrt(2 / math.pi), abs=0.004)  # 0.184


def test_hd_decoding_error_is_wrapped_and_zero_start():
    task = hd_task(init_hd="zero", sequence_length=3)
    b = task.sample(4, gen(22))
    assert torch.equal(b.init_latent, torch.zeros(4, 1))
    latent = torch.tensor([[[math.pi - 0.01]]])
    outputs = task.code.encode(torch.tensor([[[-math.pi + 0.01]]]))
    assert task.decoding_error(outputs, latent).item() < 0.03**2  # 0.02 rad apart across the cut, not 2 pi
    with pytest.raises(ValueError, match="init_hd"):
        hd_task(init_hd="north")


def test_hd_seeding():
    task = hd_task(sequence_length=10)
    a, b, c = task.sample(8, gen(30)), task.sample(8, gen(30)), task.sample(8, gen(31))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, c.inputs)


# --- build_task -----------------------------------------------------------------------------------------

SN_CFG = dict(
    name="spatial_navigation",
    box_width=2.2,
    box_height=2.2,
    border_region=0.03,
    border_slow_factor=0.25,
    init_pos="uniform",
    biased=False,
    drift_const=0.05,
    anchor_point=[0, 0],
    dt=0.02,
    mu=0,
    sigma=11.52,
    b=0.8168140899333463,
    use_place_cells=True,
    place_cells_num=512,
    place_cells_sigma=0.2,
    place_cells_dog=False,
    place_cells_surround_scale=2,
    sequence_length=100,
    batch_size=200,
)
HD_CFG = dict(
    name="head_direction",
    init_hd="uniform",
    biased=False,
    dt=0.02,
    mu=0,
    sigma=11.52,
    use_hd_cells=True,
    hd_cells_num=512,
    hd_cells_angular_spread=math.pi / 6,
    sequence_length=100,
    batch_size=200,
)


def test_build_task_from_plain_dicts():
    assert set(TASKS) == {"spatial_navigation", "head_direction", "linear_track"}
    sn = build_task({**SN_CFG, "place_cells_num": 256, "sequence_length": 7}, gen(0))
    assert isinstance(sn, SpatialNavigationTask) and sn.n_code == 256 and sn.code.centres.shape == (256, 2)
    assert sn.sample(3, gen(1)).targets.shape == (3, 7, 256)
    # Same generator seed -> same centres; they are the task's state.
    assert torch.equal(sn.code.centres, build_task({**SN_CFG, "place_cells_num": 256}, gen(0)).code.centres)
    assert "code.centres" in sn.state_dict() and torch.equal(sn.to("cpu").code.centres, sn.code.centres)
    hd = build_task(HD_CFG, gen(0))
    assert isinstance(hd, HeadDirectionTask) and hd.n_code == 512 and "code.preferred" in hd.state_dict()
    assert hd.sample(2, gen(1)).inputs.shape == (2, 100, 1)


def test_build_task_from_omegaconf_and_without_cells():
    sn = build_task(OmegaConf.create({**SN_CFG, "use_place_cells": False, "biased": True}), gen(0))
    assert isinstance(sn.code, CartesianCode) and sn.n_code == 2 and sn.biased
    b = sn.sample(4, gen(1))
    assert torch.equal(b.targets, b.latent)
    hd = build_task(OmegaConf.create({**HD_CFG, "use_hd_cells": False}), gen(0))
    assert isinstance(hd.code, CosSinCode) and hd.sample(2, gen(1)).targets.shape == (2, 100, 2)


def test_build_task_errors():
    with pytest.raises(ConfigError, match="spatial_navigation"):  # lists the known tasks
        build_task({"name": "navigation"}, gen(0))
    with pytest.raises(ConfigError, match="place_cell_num"):
        build_task({**SN_CFG, "place_cell_num": 256}, gen(0))
    with pytest.raises(ConfigError, match="biased"):
        build_task({**HD_CFG, "biased": "maybe"}, gen(0))
    with pytest.raises(ConfigError, match="hd_cells_num"):  # an SN-only key would be silently ignored otherwise
        build_task({**SN_CFG, "hd_cells_num": 12}, gen(0))
    with pytest.raises(ConfigError, match="anchor_point"):
        build_task({**SN_CFG, "anchor_point": [0, 0, 0]}, gen(0))


@pytest.mark.parametrize(
    "key, value, kind",
    [
        ("sequence_length", 2.5, "an integer, like its default 100"),
        ("sigma", True, "a number, like its default 11.52"),
        ("init_pos", ["uniform"], "a string, like its default 'uniform'"),
        ("anchor_point", [0, "a"], "a list of numbers, like its default [0.0, 0.0]"),
        ("use_place_cells", "maybe", "true or false, like its default True"),
    ],
)
def test_build_task_types_a_plain_mapping_by_the_tasks_schema(key, value, kind):
    # The schema Hydra composes with (reactivation/tasks/schema.py) types a saved run's or a test's plain dict too.
    with pytest.raises(ConfigError) as err:
        build_task({**SN_CFG, key: value}, gen(0))
    assert str(err.value) == f"task.{key}={value!r} is not allowed; it must be {kind}."


def test_a_tasks_schema_is_its_classs_defaults():
    import dataclasses

    from reactivation.tasks.schema import task_schema

    for cls in TASKS.values():
        fields = {f.name: f.type for f in dataclasses.fields(task_schema(cls))}
        assert list(fields) == ["name", *cls.config_defaults(), "batch_size"]
        assert fields["biased"] is bool and fields["sequence_length"] is int and fields["dt"] == int | float
        assert task_schema(cls) is task_schema(cls)  # made once: the ConfigStore's and build_task's are the same


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_declares_its_interface_and_its_yaml_repeats_its_defaults(name):
    """The registry's classes carry what the rest of the package asks of a task; the YAML a user reads states the
    same defaults as the constructor (the one copy in Python), key for key."""
    import yaml

    cls = TASKS[name]
    assert cls.name == name and cls.error_name and cls.error_unit
    config = yaml.safe_load((TRAIN_CONFIG_DIR / "task" / f"{name}.yaml").read_text())
    assert config["defaults"] == [f"/{task_schema_name(name)}@task", "_self_"]  # typed by the task's schema
    node = config["task"]
    assert node["name"] == name
    yaml_defaults = {k: v for k, v in node.items() if k not in ("name", "batch_size")}
    defaults = cls.config_defaults()
    # In the same order: the schema's fields follow config_defaults(), and set a saved config.yaml's order.
    assert list(yaml_defaults) == list(defaults) and list(node)[0] == "name" and list(node)[-1] == "batch_size"
    for key, value in yaml_defaults.items():
        expected = defaults[key]
        if isinstance(expected, tuple):
            assert tuple(value) == pytest.approx(expected), key
        else:
            assert value == pytest.approx(expected) if isinstance(expected, float) else value == expected, key
    task = build_task({"name": name}, gen(0))
    assert isinstance(task, cls) and isinstance(task.geometry, cls.geometry_type)
    assert task.geometry.dim == task.latent_dim
    batch = task.sample(3, gen(1))
    assert batch.inputs.shape[-1] == task.n_in and batch.latent.shape[-1] == task.latent_dim

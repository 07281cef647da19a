"""Population codes: wrapping, place cells (plain and DoG), head-direction cells, identity codes."""

import math

import pytest
import torch

from reactivation.codes import CartesianCode, CosSinCode, HeadDirectionCells, PlaceCells, wrap_angle


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def in_half_open_circle(x: torch.Tensor) -> bool:
    return bool(((x >= -math.pi) & (x < math.pi)).all())


# --- wrap_angle -----------------------------------------------------------------------------------------


def test_wrap_angle_values_and_range():
    x = torch.tensor(
        [
            0.0,
            math.pi,
            -math.pi,
            3 * math.pi,
            -3 * math.pi,
            2 * math.pi,
            0.5,
            2 * math.pi + 0.5,
            -2 * math.pi - 0.5,
            100.0,
            -1e-9,
            -2 * math.pi - 1e-9,
        ]
    )
    y = wrap_angle(x)
    assert in_half_open_circle(y)
    assert y[1].item() == pytest.approx(-math.pi)  # +pi maps to -pi (half-open interval)
    torch.testing.assert_close(y[[0, 6, 7, 8]], torch.tensor([0.0, 0.5, 0.5, -0.5]), atol=1e-5, rtol=0)
    # Same point on the circle.
    torch.testing.assert_close(torch.cos(y), torch.cos(x), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.sin(y), torch.sin(x), atol=1e-5, rtol=0)


def test_wrap_angle_random_large():
    x = (torch.rand(100_000, generator=gen(0)) - 0.5) * 200
    assert in_half_open_circle(wrap_angle(x))
    assert in_half_open_circle(wrap_angle(x.double()))


# --- place cells ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def place_cells() -> PlaceCells:
    return PlaceCells.random(512, 0.2, 2.2, 2.2, gen(0))


def test_random_centres_in_box_and_seeded():
    pc = PlaceCells.random(1000, 0.2, 2.2, 1.0, gen(3))
    assert pc.centres.shape == (1000, 2) and pc.n_units == 1000
    assert pc.centres[:, 0].abs().max() <= 1.1 and pc.centres[:, 1].abs().max() <= 0.5
    assert pc.centres[:, 0].abs().max() > 1.0 and pc.centres[:, 1].abs().max() > 0.45  # fills the box
    assert torch.equal(pc.centres, PlaceCells.random(1000, 0.2, 2.2, 1.0, gen(3)).centres)
    assert not torch.equal(pc.centres, PlaceCells.random(1000, 0.2, 2.2, 1.0, gen(4)).centres)


def test_place_cells_match_formula_and_rows_sum_to_one(place_cells):
    pos = (torch.rand(7, 30, 2, generator=gen(1)) - 0.5) * 2.4
    y = place_cells.encode(pos)
    assert y.shape == (7, 30, 512)
    sq = ((pos.unsqueeze(-2) - place_cells.centres) ** 2).sum(-1)
    torch.testing.assert_close(y, torch.softmax(-sq / (2 * 0.2**2), dim=-1), atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(y.sum(-1), torch.ones(7, 30))
    assert (y >= 0).all()


def test_difference_of_gaussians(place_cells):
    dog = PlaceCells(place_cells.centres, 0.2, dog=True, surround_scale=2.0)
    pos = (torch.rand(500, 2, generator=gen(2)) - 0.5) * 2.2
    y, plain = dog.encode(pos), place_cells.encode(pos)
    torch.testing.assert_close(y.sum(-1), torch.ones(500))
    assert (y >= 0).all()
    assert torch.all(y.amin(-1) == 0)  # shifted by the row minimum
    assert (y - plain).abs().max() > 1e-3
    # Reference: centre softmax minus surround softmax (variance sigma^2 * 2), shifted and renormalised.
    sq = ((pos.unsqueeze(-2) - dog.centres) ** 2).sum(-1)
    ref = torch.softmax(-sq / 0.08, -1) - torch.softmax(-sq / 0.16, -1)
    ref = ref - ref.amin(-1, keepdim=True)
    torch.testing.assert_close(y, ref / ref.sum(-1, keepdim=True), atol=1e-6, rtol=1e-4)
    # Decoding still finds the position's neighbourhood.
    assert (dog.decode(y) - pos).norm(dim=-1).median() < 0.1


def test_place_cell_decode_top_k():
    centres = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    pc = PlaceCells(centres, 0.2)
    y = torch.tensor([[0.1, 0.9, 0.5, 0.7], [0.9, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(pc.decode(y, k=1), torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    torch.testing.assert_close(pc.decode(y, k=3)[0], torch.tensor([2 / 3, 2 / 3]))


def test_place_cells_buffers_travel(place_cells):
    assert "centres" in place_cells.state_dict()
    moved = place_cells.to("cpu")
    assert torch.equal(moved.centres, place_cells.centres)
    other = PlaceCells.random(512, 0.2, 2.2, 2.2, gen(99))
    other.load_state_dict(place_cells.state_dict())
    assert torch.equal(other.centres, place_cells.centres)


def test_place_cells_invalid_arguments():
    with pytest.raises(ValueError):
        PlaceCells(torch.zeros(5, 3), 0.2)
    with pytest.raises(ValueError):
        PlaceCells(torch.zeros(5, 2), 0.0)
    with pytest.raises(ValueError):
        PlaceCells(torch.zeros(5, 2), 0.2, dog=True, surround_scale=1.0)


# --- head-direction cells -------------------------------------------------------------------------------


def test_preferred_angles_evenly_spaced_without_duplicate():
    hd = HeadDirectionCells(512, math.pi / 6)
    p = hd.preferred
    assert p.shape == (512,) and hd.n_units == 512
    assert p[0].item() == pytest.approx(-math.pi)
    assert p[-1].item() == pytest.approx(math.pi - 2 * math.pi / 512)
    torch.testing.assert_close(p.diff(), torch.full((511,), 2 * math.pi / 512), atol=1e-6, rtol=0)
    assert "preferred" in hd.state_dict()


def test_hd_code_peaks_at_one():
    hd = HeadDirectionCells(512, math.pi / 6)
    own = hd.encode(hd.preferred.unsqueeze(-1))  # (512, 512): cell i at its own preferred angle
    torch.testing.assert_close(own.diagonal(), torch.ones(512))
    assert own.max() <= 1.0
    angles = (torch.rand(2000, 1, generator=gen(5)) - 0.5) * 4 * math.pi
    y = hd.encode(angles)
    assert y.shape == (2000, 512) and (y > 0).all() and (y.amax(-1) <= 1.0).all()
    # The nearest cell is at most half a spacing away.
    floor = math.exp(hd.kappa * (math.cos(math.pi / 512) - 1))
    assert (y.amax(-1) >= floor - 1e-6).all() and floor > 0.999
    # Tuning width: kappa = 1 / sigma^2; at 30 degrees off the preferred angle f = exp(-(1 - cos 30°) / sigma^2).
    torch.testing.assert_close(
        hd.encode(torch.tensor([[math.pi / 6]]))[0, 256],
        torch.tensor(math.exp(-(1 - math.cos(math.pi / 6)) * 36 / math.pi**2)),
    )


def test_hd_decode_recovers_angles_including_near_pi():
    hd = HeadDirectionCells(512, math.pi / 6)
    angles = torch.cat(
        [
            (torch.rand(1000, generator=gen(6)) - 0.5) * 2 * math.pi,
            torch.tensor([math.pi - 1e-4, -math.pi, -math.pi + 1e-4, 0.0, math.pi - 0.006]),
        ]
    )
    decoded = hd.decode(hd.encode(angles.unsqueeze(-1)))
    assert decoded.shape == (1005, 1) and in_half_open_circle(decoded)
    err = wrap_angle(decoded.squeeze(-1) - angles).abs()
    assert err.max() < 0.01  # half the spacing is 0.0061 rad


def test_identity_codes():
    pos = torch.randn(4, 3, 2, generator=gen(7))
    cart = CartesianCode()
    assert cart.n_units == 2 and torch.equal(cart.encode(pos), pos) and torch.equal(cart.decode(pos), pos)
    angles = (torch.rand(4, 3, 1, generator=gen(8)) - 0.5) * 2 * math.pi
    cs = CosSinCode()
    y = cs.encode(angles)
    assert cs.n_units == 2 and y.shape == (4, 3, 2)
    torch.testing.assert_close(y.norm(dim=-1), torch.ones(4, 3))
    torch.testing.assert_close(cs.decode(y), angles)
    assert in_half_open_circle(cs.decode(torch.tensor([[-1.0, 0.0]])))  # atan2 gives +pi here

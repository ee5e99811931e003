"""Terrain generator, bilinear heights, heading-frame heightmap and the MuJoCo heightfield."""

from __future__ import annotations

import math
import time
from dataclasses import fields
from pathlib import Path

import mujoco
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from protomotions.simulator.mujoco.scene import add_ground
from protomotions.terrain import (
    TERRAIN_TYPES,
    HeightmapSampler,
    Terrain,
    TerrainConfig,
    build_terrain,
    column_types,
    flat_terrain,
    ground_height_under,
    mean_ground_height,
    tile_at,
)
from protomotions.utils.rotations import quat_mul, yaw_quat

CONFIG_DIR = Path(__file__).resolve().parents[1] / "protomotions" / "config" / "terrain"


@pytest.fixture(scope="module")
def default_cfg() -> TerrainConfig:
    return TerrainConfig()


@pytest.fixture(scope="module")
def complex_terrain(default_cfg) -> Terrain:
    return build_terrain(default_cfg)


def tile(terrain: Terrain, cfg: TerrainConfig, level: int, col: int) -> np.ndarray:
    """Heights (tx, ty) of one tile; sample [tx//2, ty//2] is the tile centre."""
    hs = cfg.horizontal_scale
    tx, ty, b = round(cfg.map_length / hs), round(cfg.map_width / hs), round(cfg.border_size / hs)
    return terrain.heights[b + level * tx: b + (level + 1) * tx, b + col * ty: b + (col + 1) * ty]


def tile_centre(cfg: TerrainConfig, level: int, col: int) -> np.ndarray:
    return np.array([cfg.border_size + (level + 0.5) * cfg.map_length, cfg.border_size + (col + 0.5) * cfg.map_width])


# --- generator -----------------------------------------------------------------------------


def test_columns_cover_every_positive_type(default_cfg):
    types = column_types(default_cfg)
    assert len(types) == 7
    # the reference col/7 rule drops discrete; here each positive proportion owns a column
    assert set(types) == {"smooth_slope", "rough_slope", "stairs_up", "stairs_down", "discrete", "flat"}
    assert types.count("flat") == 2  # the spare column goes to the largest share
    all_types = TerrainConfig(num_terrains=8, proportions=[1.0] * 8)
    assert sorted(column_types(all_types)) == sorted(TERRAIN_TYPES)
    with pytest.raises(ValueError, match="num_terrains"):
        column_types(TerrainConfig(num_terrains=5))


def test_every_type_present_with_its_shape(complex_terrain, default_cfg):
    cfg, types = default_cfg, column_types(default_cfg)
    top = cfg.num_levels - 1
    d = top / cfg.num_levels
    c = round(cfg.map_length / cfg.horizontal_scale) // 2
    for col, kind in enumerate(types):
        h = tile(complex_terrain, cfg, top, col)
        if kind == "flat":
            assert np.all(h == 0)
        elif kind == "smooth_slope":
            assert abs(abs(h[c, c]) - 0.4 * d * (10 - 1.5)) < 0.01
        elif kind == "rough_slope":
            # noise on top of the pyramid: second differences far above the quantisation step
            assert np.abs(np.diff(h[:, 20], 2)).max() > 0.05
        elif kind == "stairs_up":
            assert h[c, c] > 1.0
        elif kind == "stairs_down":
            assert h[c, c] < -1.0
        elif kind == "discrete":
            top_h = 0.025 + 0.15 * d
            levels = np.round(np.array([-top_h, -top_h / 2, 0.0, top_h / 2, top_h]) / cfg.vertical_scale) * cfg.vertical_scale
            assert np.all(np.min(np.abs(h[..., None] - levels), axis=-1) < 1e-4)
            assert (h != 0).mean() > 0.05  # 20 blocks of 1-2 m cover roughly a tenth of the tile
    # flat border
    b = round(cfg.border_size / cfg.horizontal_scale)
    hs = complex_terrain.heights
    assert np.all(hs[:b] == 0) and np.all(hs[-b:] == 0) and np.all(hs[:, :b] == 0) and np.all(hs[:, -b:] == 0)


def test_rough_noise_is_a_bumpy_surface_not_blocks(complex_terrain, default_cfg):
    """Linear (the default): the reference's interpolated noise; hold: 0.2 m blocks with tall edges."""
    cfg = default_cfg
    col = column_types(cfg).index("rough_slope")
    level = 0  # difficulty 0: no slope, the noise alone
    h = tile(complex_terrain, cfg, level, col)
    c = round(cfg.map_length / cfg.horizontal_scale) // 2
    k = round(cfg.rough_cell / cfg.horizontal_scale)
    off = (h[: c - 20, : c - 20])  # away from the level platform
    assert np.abs(off).max() <= cfg.rough_amplitude + 1e-6 and np.abs(off).max() > 0.5 * cfg.rough_amplitude
    # coarse grid points carry multiples of rough_step; between them heights are the average of the neighbours
    on_grid = off[::k, ::k]
    assert np.allclose(on_grid / cfg.rough_step, np.round(on_grid / cfg.rough_step), atol=0.25)
    mid = 0.5 * (off[0:-2:k, ::k] + off[2::k, ::k])
    assert np.allclose(off[1:-1:k, ::k], mid, atol=cfg.vertical_scale)
    # one sample to the next rises at most half the noise range, where held blocks jump the full range
    assert np.abs(np.diff(off, axis=0)).max() <= cfg.rough_amplitude + cfg.vertical_scale
    held = build_terrain(TerrainConfig(rough_interpolation="hold"))
    hh = tile(held, cfg, level, col)[: c - 20, : c - 20]
    assert np.abs(np.diff(hh, axis=0)).max() > 1.5 * cfg.rough_amplitude
    with pytest.raises(ValueError, match="rough_interpolation"):
        TerrainConfig(rough_interpolation="cubic")


def test_tile_at_names_the_tile_under_a_point(complex_terrain, default_cfg):
    cfg, types = default_cfg, column_types(default_cfg)
    b, lx, wy = cfg.border_size, cfg.map_length, cfg.map_width
    # the centre of (level 6, stairs_up column) stands high; a point on the border is named "border"
    col = types.index("stairs_up")
    xy = torch.tensor([[b + 6.5 * lx, b + (col + 0.5) * wy], [b + 0.2, b + 0.2], [1.0, 1.0]])
    names, levels = tile_at(xy, cfg)
    assert names == ["stairs_up", types[0], "border"] and levels.tolist() == [6, 0, -1]
    assert complex_terrain.height_at(xy[:1]).item() > 1.0
    assert tile_at(xy, TerrainConfig(terrain_type="flat"))[0] == ["flat"] * 3


@pytest.mark.parametrize("kind,sign", [("stairs_up", 1.0), ("stairs_down", -1.0)])
def test_stair_steps(complex_terrain, default_cfg, kind, sign):
    cfg = default_cfg
    col = column_types(cfg).index(kind)
    for level in (0, 3, 6):
        step = round((0.05 + 0.175 * level / cfg.num_levels) / cfg.vertical_scale) * cfg.vertical_scale
        h = tile(complex_terrain, cfg, level, col)
        c = h.shape[0] // 2
        # walk in from the tile edge to the centre along the centre row
        profile = h[:c + 1, c]
        rises = np.diff(profile)
        assert np.all(np.isclose(rises, 0.0) | np.isclose(rises, sign * step, atol=1e-4))
        n_rings = math.floor((10.0 - 1.5) / cfg.stair_width)
        assert profile[0] == 0.0
        assert profile[-1] == pytest.approx(sign * step * n_rings, abs=1e-4)
        # each tread is stair_width wide: a ring changes every 3 or 4 samples at 0.1 m
        edges = np.flatnonzero(~np.isclose(rises, 0.0))
        assert set(np.diff(edges)) <= {3, 4}
        # world check through height_at: the middle of the second tread sits one step up
        xy = torch.tensor([[cfg.border_size + level * cfg.map_length + 1.5 * cfg.stair_width,
                            cfg.border_size + (col + 0.5) * cfg.map_width]])
        assert complex_terrain.height_at(xy).item() == pytest.approx(sign * step, abs=1e-4)


def test_mean_ground_height_ramps_over_stairs(complex_terrain, default_cfg):
    cfg = default_cfg
    col = column_types(cfg).index("stairs_up")
    y = cfg.border_size + (col + 0.5) * cfg.map_width
    x = cfg.border_size + 6 * cfg.map_length + torch.arange(0.5, 4.0, 0.02)
    xy = torch.stack([x, torch.full_like(x, y)], -1)
    under, mean = complex_terrain.height_at(xy), mean_ground_height(complex_terrain, xy, 0.3)
    step = 0.05 + 0.175 * 6 / cfg.num_levels
    # under the point a whole step rises within one 0.1 m grid cell; the mean climbs close to the
    # flight's average slope (step / tread) everywhere
    under_grad, mean_grad = torch.diff(under).abs() / 0.02, torch.diff(mean).abs() / 0.02
    assert under_grad.max() > 0.9 * step / cfg.horizontal_scale
    assert mean_grad.max() < 1.4 * step / cfg.stair_width
    # same climb on average, radius 0 is the point itself, and a plane stays a plane
    assert abs((mean - under).mean()) < 0.5 * step
    assert torch.equal(mean_ground_height(complex_terrain, xy, 0.0), under)
    flat = flat_terrain()
    assert torch.equal(mean_ground_height(flat, xy, 0.3), torch.zeros(len(xy)))


@pytest.mark.parametrize("radius, num_per_side", [(0.3, 7), (0.2, 3), (0.25, 6)])
def test_mean_ground_height_equals_the_mean_of_its_samples(complex_terrain, radius, num_per_side):
    """Whole-cell grids read a pre-averaged terrain (one lookup); others sample; both are the plain mean."""
    from protomotions.terrain.heightmap import heightmap_offsets

    nx, ny = complex_terrain.heights.shape
    hs = complex_terrain.horizontal_scale
    g = torch.Generator().manual_seed(7)
    xy = torch.rand(4000, 2, generator=g) * torch.tensor([(nx - 1) * hs, (ny - 1) * hs])
    xy[:4] = torch.tensor([[0.0, 0.0], [(nx - 1) * hs, (ny - 1) * hs], [0.05, 3.0], [50.0, (ny - 1) * hs - 0.01]])
    sampled = complex_terrain.height_at(xy[:, None, :] + heightmap_offsets(num_per_side, radius)).mean(-1)
    assert torch.allclose(mean_ground_height(complex_terrain, xy, radius, num_per_side), sampled, atol=2e-5)


def test_smooth_slope_gradient(complex_terrain, default_cfg):
    cfg = default_cfg
    col = column_types(cfg).index("smooth_slope")
    for level in range(1, cfg.num_levels):
        h = tile(complex_terrain, cfg, level, col)
        c = h.shape[0] // 2
        # fit the edge-to-platform run: 0 m .. 8.5 m from the edge
        run = h[:80, c]
        grad = np.polyfit(np.arange(80) * cfg.horizontal_scale, run, 1)[0]
        assert abs(grad) == pytest.approx(0.4 * level / cfg.num_levels, abs=0.005)
        # platform: 3 m square around the centre is level
        assert np.ptp(h[c - 15: c + 15, c - 15: c + 15]) == 0.0
        # neighbouring levels alternate pyramid up / down
        assert np.sign(h[c, c]) == (1 if level % 2 else -1)


def test_spawn_points_on_flat_ground(complex_terrain, default_cfg):
    spawn = torch.as_tensor(complex_terrain.spawn_xy, dtype=torch.float64)
    assert spawn.shape[1] == 2 and len(spawn) > 500
    # every 0.1 m inside the 1 m square around each point
    g = torch.linspace(-1.0, 1.0, 21, dtype=torch.float64)
    off = torch.stack(torch.meshgrid(g, g, indexing="ij"), dim=-1).reshape(-1, 2)
    h = complex_terrain.height_at(spawn[:, None, :] + off[None])
    assert (h.amax(dim=1) - h.amin(dim=1)).max().item() < 1e-6
    # flat tiles are used only inside the 4 m margin; other spawns are tile-centre platforms
    cfg = default_cfg
    local = (spawn.numpy() - cfg.border_size) % cfg.map_length - cfg.map_length / 2
    assert np.abs(local).max() <= cfg.map_length / 2 - cfg.flat_margin + 1e-4
    flat_cols = [i for i, t in enumerate(column_types(cfg)) if t == "flat"]
    centres = np.array([tile_centre(cfg, lv, c) for lv in range(cfg.num_levels) for c in range(cfg.num_terrains)
                        if c not in flat_cols])
    assert all(np.any(np.all(np.isclose(spawn.numpy(), c, atol=1e-4), axis=1)) for c in centres)


def test_spawn_sampling_is_uniform_over_tiles(complex_terrain, default_cfg):
    """A flat tile holds ~169 spawn points and a slope tile one; each tile must still be equally likely."""
    cfg = default_cfg
    draws = complex_terrain.sample_spawn_xy(20000, torch.Generator().manual_seed(0)).numpy()
    tile = np.floor((draws - cfg.border_size) / np.array([cfg.map_length, cfg.map_width])).astype(int)
    counts = np.bincount(tile[:, 0] * cfg.num_terrains + tile[:, 1], minlength=cfg.num_levels * cfg.num_terrains)
    expected = 20000 / (cfg.num_levels * cfg.num_terrains)
    assert counts.min() > 0.75 * expected and counts.max() < 1.25 * expected
    # draws are spawn points, and a flat terrain (no weights) still samples
    assert np.isin(draws.view([("x", draws.dtype), ("y", draws.dtype)]),
                   complex_terrain.spawn_xy.view([("x", draws.dtype), ("y", draws.dtype)])).all()
    flat = build_terrain(TerrainConfig(terrain_type="flat"))
    assert flat.sample_spawn_xy(3, torch.Generator().manual_seed(0)).shape == (3, 2)


def test_deterministic_and_fast():
    t0 = time.perf_counter()
    a = build_terrain(TerrainConfig(seed=3))
    assert time.perf_counter() - t0 < 5.0
    b = build_terrain(TerrainConfig(seed=3))
    c = build_terrain(TerrainConfig(seed=4))
    assert np.array_equal(a.heights, b.heights) and np.array_equal(a.spawn_xy, b.spawn_xy)
    assert not np.array_equal(a.heights, c.heights)
    assert a.heights.dtype == np.float32
    # vertical quantisation
    assert np.allclose(a.heights / 0.005, np.round(a.heights / 0.005), atol=1e-3)


def test_flat_and_config_errors():
    t = build_terrain(TerrainConfig(terrain_type="flat"))
    assert t.is_flat and t.spawn_xy.shape == (1, 2)
    with pytest.raises(ValueError, match="terrain_type"):
        TerrainConfig(terrain_type="hills")
    with pytest.raises(ValueError, match="proportions"):
        TerrainConfig(proportions=[1.0, 0.0])
    with pytest.raises(ValueError, match="map_length"):
        TerrainConfig(map_length=20.05)


@pytest.mark.parametrize("name", ["flat", "complex"])
def test_yaml_keys_are_config_fields(name):
    raw = (CONFIG_DIR / f"{name}.yaml").read_text()
    assert raw.startswith("# @package _global_")
    cfg = OmegaConf.create(raw)
    assert set(cfg.terrain.keys()) == {f.name for f in fields(TerrainConfig)}
    tc = TerrainConfig(**cfg.terrain)
    assert tc.terrain_type == name
    if name == "complex":
        assert tc == TerrainConfig()  # the yaml restates the dataclass defaults


def test_rare_types_build():
    cfg = TerrainConfig(num_levels=2, num_terrains=8, proportions=[1.0] * 8, border_size=2.0)
    t = build_terrain(cfg)
    types = column_types(cfg)
    poles = tile(t, cfg, 1, types.index("poles"))
    assert poles.max() == pytest.approx(2.0) and (poles > 0).sum() > 0
    stones = tile(t, cfg, 1, types.index("stepping_stones"))
    assert stones.min() == pytest.approx(-1.0)  # the pit between stones


# --- bilinear heights ----------------------------------------------------------------------


def test_height_at_samples_and_midpoints(complex_terrain):
    t = complex_terrain
    hs = t.horizontal_scale
    rng = np.random.default_rng(0)
    ij = rng.integers(1, np.array(t.heights.shape) - 2, size=(500, 2))
    grid = torch.as_tensor(t.heights, dtype=torch.float64)
    i, j = torch.as_tensor(ij[:, 0]), torch.as_tensor(ij[:, 1])
    xy = torch.as_tensor(ij * hs, dtype=torch.float64)
    assert torch.allclose(t.height_at(xy), grid[i, j], atol=1e-6)
    mid_x = t.height_at(xy + torch.tensor([hs / 2, 0.0], dtype=torch.float64))
    assert torch.allclose(mid_x, 0.5 * (grid[i, j] + grid[i + 1, j]), atol=1e-6)
    centre = t.height_at(xy + hs / 2)
    assert torch.allclose(centre, 0.25 * (grid[i, j] + grid[i + 1, j] + grid[i, j + 1] + grid[i + 1, j + 1]), atol=1e-6)
    # arbitrary fractions follow the bilinear formula
    fu, fv = 0.3, 0.8
    val = t.height_at(xy + torch.tensor([fu * hs, fv * hs], dtype=torch.float64))
    want = ((1 - fu) * (1 - fv) * grid[i, j] + fu * (1 - fv) * grid[i + 1, j]
            + (1 - fu) * fv * grid[i, j + 1] + fu * fv * grid[i + 1, j + 1])
    assert torch.allclose(val, want, atol=1e-6)
    assert torch.allclose(ground_height_under(t, torch.cat([xy, torch.ones(500, 1, dtype=torch.float64)], -1)),
                          grid[i, j], atol=1e-6)


# --- heightmap -----------------------------------------------------------------------------


def tilted_terrain(gx: float = 0.2, gy: float = -0.05, size: int = 101, hs: float = 0.1) -> Terrain:
    """h = gx·x + gy·y + 1: linear, so bilinear interpolation is exact, and x/y distinguishable."""
    x = np.arange(size) * hs
    h = (gx * x[:, None] + gy * x[None, :] + 1.0).astype(np.float32)
    return Terrain(heights=h, horizontal_scale=hs, spawn_xy=np.zeros((1, 2), np.float32))


def test_heightmap_shape_and_value():
    t = tilted_terrain()
    sampler = HeightmapSampler(t)
    n = 5
    root = torch.tensor([[5.0, 5.0, 3.0]]).repeat(n, 1)
    root[:, 0] += torch.arange(n) - 2.0  # stays 1 m inside the grid: height_at clamps at its edge
    rot = yaw_quat(torch.zeros(n))
    obs = sampler(root, rot)
    assert obs.shape == (n, 256) and sampler.num_points == 256
    # with no yaw, obs index a*16 + b sits at root + (lin[a], lin[b])
    lin = torch.linspace(-1, 1, 16)
    a, b = torch.meshgrid(lin, lin, indexing="ij")
    ground = 0.2 * (root[:, 0, None] + a.reshape(1, -1)) - 0.05 * (root[:, 1, None] + b.reshape(1, -1)) + 1.0
    assert torch.allclose(obs, root[:, 2:3] - ground, atol=1e-5)
    # spacing 2/15 m
    pts = sampler.points(root, rot)
    assert torch.allclose(pts[0, 1] - pts[0, 0], torch.tensor([0.0, 2 / 15]), atol=1e-6)


def test_heightmap_rotates_with_heading():
    t = tilted_terrain()
    sampler = HeightmapSampler(t)
    root = torch.tensor([[5.0, 5.0, 3.0], [5.0, 5.0, 3.0]])
    yaw90 = yaw_quat(torch.tensor([math.pi / 2, math.pi / 2]))
    # the second root is also pitched: only the heading may turn the grid
    pitch = torch.tensor([[0.0, math.sin(0.2), 0.0, math.cos(0.2)]] * 2)
    rot = torch.stack([yaw90[0], quat_mul(yaw90[1:], pitch[1:])[0]])
    obs = sampler(root, rot).reshape(2, 16, 16)
    lin = torch.linspace(-1, 1, 16)
    a, b = torch.meshgrid(lin, lin, indexing="ij")
    # heading along +y: forward offset a moves +y, left offset b moves −x
    ground = 0.2 * (5.0 - b) - 0.05 * (5.0 + a) + 1.0
    assert torch.allclose(obs[0], 3.0 - ground, atol=1e-5)
    assert torch.allclose(obs[1], 3.0 - ground, atol=1e-5)
    # the rows ahead (large a) are downhill along +y on this terrain: larger obs than behind
    assert obs[0, -1].mean() > obs[0, 0].mean()


def test_heightmap_flat_terrain():
    sampler = HeightmapSampler(flat_terrain())
    root = torch.tensor([[0.3, -2.0, 0.9]])
    assert torch.allclose(sampler(root, yaw_quat(torch.tensor([1.0]))), torch.full((1, 256), 0.9))


# --- MuJoCo heightfield --------------------------------------------------------------------


def rest_heights(terrain: Terrain, xy: np.ndarray, radius: float = 0.04, seconds: float = 1.0) -> np.ndarray:
    """Drop one sphere per xy (K, 2) onto add_ground's heightfield; centre z (K,) after settling."""
    spec = mujoco.MjSpec()
    spec.option.timestep = 0.002
    add_ground(spec, terrain)
    start = terrain.height_at(torch.as_tensor(xy, dtype=torch.float64)).numpy()
    for k, (x, y) in enumerate(xy):
        body = spec.worldbody.add_body(name=f"ball{k}", pos=[x, y, start[k] + radius + 0.1])
        body.add_freejoint()
        # spheres sit far apart; contype/conaffinity 2/1 keeps them from touching each other
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[radius, 0, 0], density=1000, contype=2, conaffinity=1)
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_step(model, data, nstep=int(seconds / model.opt.timestep))
    z = data.xpos[1:, 2] - radius
    assert np.abs(data.qvel).max() < 1e-2, "spheres did not settle"
    assert np.allclose(data.xpos[1:, :2], xy, atol=0.02), "spheres rolled away"
    return z


def test_mujoco_heightfield_matches_height_at_asymmetric():
    # level patches of different heights arranged so that swapping x and y would be caught
    hs = 0.1
    h = np.zeros((61, 41), np.float32)
    h[30:, :] += 0.3  # x >= 3 m
    h[:, 25:] += 0.5  # y >= 2.5 m
    h[:15, :10] = -0.2
    t = Terrain(heights=h, horizontal_scale=hs, spawn_xy=np.zeros((1, 2), np.float32))
    xy = np.array([[1.5, 1.2], [4.5, 1.2], [1.5, 3.3], [4.5, 3.3], [0.5, 0.4]])
    want = t.height_at(torch.as_tensor(xy)).numpy()
    assert np.allclose(want, [0.0, 0.3, 0.5, 0.8, -0.2])
    assert np.allclose(rest_heights(t, xy), want, atol=0.01)


def test_mujoco_heightfield_on_generated_terrain():
    cfg = TerrainConfig(num_levels=2, border_size=1.0)
    t = build_terrain(cfg)
    types = column_types(cfg)
    up, down = types.index("stairs_up"), types.index("stairs_down")
    xy = [tile_centre(cfg, 1, up), tile_centre(cfg, 1, down), t.spawn_xy[-1].astype(np.float64)]
    # middle of the second tread of the level-1 stairs
    for col in (up, down):
        xy.append(np.array([cfg.border_size + cfg.map_length + 1.5 * cfg.stair_width, tile_centre(cfg, 1, col)[1]]))
    xy = np.stack(xy)
    want = t.height_at(torch.as_tensor(xy)).numpy()
    assert want[0] > 1.0 and want[1] < -1.0
    assert np.allclose(rest_heights(t, xy), want, atol=0.01)

"""IsaacLab backend: our generated MJCF, converted to USD, cloned into ``num_envs`` PhysX envs.

NOT RUN on our machines (no Isaac Sim there): this module is written against IsaacLab's documented
2.x API (notes for 3.0 inline) and only its pure parts, in :mod:`.convert`, are tested. See README.md.

Order of events in ``__init__`` matters: Kit must be running (AppLauncher) before any
``isaaclab.sim`` / ``isaaclab.assets`` / ``omni`` module is imported, so every IsaacLab import lives
inside functions called after :func:`launch_app`. The scene is: one articulation per env (implicit
PD actuators per joint group), a contact sensor on all its bodies, and one shared terrain. Envs are
clones whose mutual collisions IsaacLab filters, so, as in the MuJoCo backend, they may stand at the
same world position; every pose we read or write is world-frame. All order and quaternion
conversions go through :mod:`.convert`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import fields
from pathlib import Path

import torch

from protomotions.robot import smpl
from protomotions.robot.mjcf import ASSET_PATH
from protomotions.simulator.base import ResetState, RobotState, Simulator, SimulatorConfig
from protomotions.simulator.isaaclab import convert, require_isaaclab

_APP = None  # Kit can start once per process; every simulator instance shares it

ROBOT_PRIM = "{ENV_REGEX_NS}/Robot"
SPAWN_HEIGHT = smpl.default_root_height() + 0.05  # only until the env's first reset_envs


def launch_app(headless: bool, device: str):
    """Start Isaac Sim's Kit once (before IsaacLab's simulation modules may be imported)."""
    global _APP
    if _APP is None:
        from isaaclab.app import AppLauncher

        _APP = AppLauncher(headless=headless, device=device).app
    return _APP


def isaaclab_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("isaaclab")
    except PackageNotFoundError:  # source installs may not register a distribution
        import isaaclab

        return getattr(isaaclab, "__version__", "2.0.0")


def _cfg(cls, **kwargs):
    """``cls(**kwargs)`` keeping only the fields this IsaacLab version has (names moved between 2.x and 3.0)."""
    names = {f.name for f in fields(cls)}
    dropped = sorted(set(kwargs) - names)
    if {"stiffness", "damping"} & set(dropped):
        raise RuntimeError(
            f"{cls.__name__} of IsaacLab {isaaclab_version()} lacks {dropped}; cannot set PD gains"
        )
    return cls(**{k: v for k, v in kwargs.items() if k in names})


def _torch(x) -> torch.Tensor:
    """IsaacLab 2.x returns torch tensors; 3.0 may return warp arrays."""
    if isinstance(x, torch.Tensor):
        return x
    import warp as wp

    return wp.to_torch(x)


def _read(data, *names: str) -> torch.Tensor:
    for name in names:
        value = getattr(data, name, None)
        if value is not None:
            return _torch(value)
    raise AttributeError(f"IsaacLab {isaaclab_version()}: {type(data).__name__} has none of {names}")


def convert_mjcf_to_usd(
    mjcf_path: str | os.PathLike, usd_dir: str | os.PathLike, self_collision: bool
) -> str:
    """Our MJCF → an instanceable USD with a floating base, cached in ``usd_dir``; returns its path."""
    from isaaclab.sim.converters import MjcfConverter, MjcfConverterCfg

    cfg = _cfg(
        MjcfConverterCfg,
        asset_path=str(mjcf_path),
        usd_dir=str(usd_dir),
        usd_file_name=Path(mjcf_path).stem + ".usd",
        force_usd_conversion=False,  # re-converts when the MJCF's hash changes
        make_instanceable=True,
        fix_base=False,  # the pelvis has a free joint
        import_sites=False,
        import_inertia_tensor=True,
        self_collision=self_collision,
    )
    return MjcfConverter(cfg).usd_path


def robot_cfg(usd_path: str, self_collisions: bool):
    import isaaclab.sim as sim_utils
    from isaaclab.actuators import ImplicitActuatorCfg
    from isaaclab.assets import ArticulationCfg

    return ArticulationCfg(
        prim_path=ROBOT_PRIM,
        spawn=sim_utils.UsdFileCfg(
            usd_path=usd_path,
            activate_contact_sensors=True,  # the contact sensor needs PhysX contact reports on every body
            rigid_props=sim_utils.RigidBodyPropertiesCfg(
                disable_gravity=False, max_depenetration_velocity=10.0
            ),
            articulation_props=sim_utils.ArticulationRootPropertiesCfg(
                enabled_self_collisions=self_collisions,
                solver_position_iteration_count=4,
                solver_velocity_iteration_count=0,
            ),
        ),
        init_state=ArticulationCfg.InitialStateCfg(pos=(0.0, 0.0, SPAWN_HEIGHT), joint_pos={".*": 0.0}),
        actuators={g: _cfg(ImplicitActuatorCfg, **kw) for g, kw in convert.actuator_groups().items()},
    )


def terrain_cfg(terrain):
    """A TerrainImporterCfg: IsaacLab's ground plane when flat, else our height grid as a triangle mesh."""
    import isaaclab.sim as sim_utils
    from isaaclab.terrains import TerrainImporter, TerrainImporterCfg

    material = sim_utils.RigidBodyMaterialCfg(static_friction=1.0, dynamic_friction=1.0, restitution=0.0)
    cfg = TerrainImporterCfg(
        prim_path="/World/ground",
        terrain_type="plane",
        collision_group=-1,
        physics_material=material,
        env_spacing=2.0,
    )
    if terrain is None or terrain.is_flat:
        return cfg
    import trimesh  # an IsaacLab dependency

    vertices, faces = convert.heightfield_to_mesh(terrain.heights, terrain.horizontal_scale)
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)

    class HeightfieldImporter(TerrainImporter):
        # The "plane" path of TerrainImporter.__init__ imports the ground and grid origins; we keep all
        # of it and swap only the geometry, through its own import_mesh.
        def import_ground_plane(self, name, size=None):
            self.import_mesh(name, mesh)

    cfg.class_type = HeightfieldImporter
    return cfg


class IsaacLabSimulator(Simulator):
    def __init__(
        self,
        config: SimulatorConfig,
        terrain=None,
        mjcf_path: str | os.PathLike = ASSET_PATH,
        usd_dir: str | os.PathLike | None = None,
        self_collisions: bool = False,
    ) -> None:
        require_isaaclab()  # before anything else: the one clear error when IsaacLab is absent
        super().__init__(config, terrain)
        self.rates = convert.sim_rates(config)
        self.app = launch_app(config.headless, config.device)

        import isaaclab.sim as sim_utils
        from isaaclab.scene import InteractiveScene, InteractiveSceneCfg
        from isaaclab.sensors import ContactSensorCfg

        usd_dir = usd_dir or Path(tempfile.gettempdir()) / "protomotions_usd"
        usd_path = convert_mjcf_to_usd(mjcf_path, usd_dir, self_collisions)
        self.sim = sim_utils.SimulationContext(
            sim_utils.SimulationCfg(
                dt=self.rates.physics_dt, render_interval=self.rates.decimation, device=config.device
            )
        )
        scene_cfg = InteractiveSceneCfg(num_envs=config.num_envs, env_spacing=2.0, replicate_physics=True)
        # InteractiveScene builds every cfg-valued attribute of its cfg, in insertion order
        scene_cfg.terrain = terrain_cfg(terrain)
        scene_cfg.robot = robot_cfg(usd_path, self_collisions)
        scene_cfg.contacts = ContactSensorCfg(
            prim_path=ROBOT_PRIM + "/.*", update_period=0.0, history_length=1
        )
        self.scene = InteractiveScene(scene_cfg)
        self.sim.reset()
        self.robot, self.contacts = self.scene["robot"], self.scene["contacts"]
        self.sim_device = torch.device(self.sim.device)
        self.layout = convert.Layout.from_names(
            self.robot.body_names,
            self.robot.joint_names,
            self.contacts.body_names,
            quat_order=convert.quat_order_for_version(isaaclab_version()),
        ).to(self.sim_device)
        self._fresh = torch.zeros(
            self.num_envs, dtype=torch.bool, device=self.sim_device
        )  # reset since last step
        self.scene.update(self.rates.physics_dt)
        self._state: RobotState | None = None

    # --- physics ---------------------------------------------------------------------------
    def step(self, pd_targets: torch.Tensor) -> None:
        assert pd_targets.shape == (self.num_envs, smpl.NUM_DOFS), pd_targets.shape
        self.robot.set_joint_position_target(
            convert.targets_to_sim(self.layout, pd_targets.to(self.sim_device))
        )
        for k in range(self.rates.decimation):
            self.scene.write_data_to_sim()
            self.sim.step(render=not self.config.headless and k == self.rates.decimation - 1)
            self.scene.update(self.rates.physics_dt)
        self._fresh[:] = False
        self._state = None

    def reset_envs(self, env_ids: torch.Tensor, state: ResetState) -> None:
        if len(env_ids) == 0:
            return
        ids = env_ids.to(self.sim_device, torch.long)
        pose, vel, joint_pos, joint_vel = convert.reset_to_sim(self.layout, state.to(self.sim_device))
        self.robot.write_root_link_pose_to_sim(pose, env_ids=ids)
        self.robot.write_root_link_velocity_to_sim(vel, env_ids=ids)
        self.robot.write_joint_state_to_sim(joint_pos, joint_vel, env_ids=ids)
        self.robot.set_joint_position_target(
            joint_pos, env_ids=ids
        )  # hold the reset pose, as MuJoCo's ctrl does
        self.robot.reset(ids)
        self.contacts.reset(ids)
        self.scene.write_data_to_sim()
        if hasattr(self.sim, "forward"):  # refresh body poses from the written joints without stepping
            self.sim.forward()
        self.scene.update(0.0)
        self._fresh[ids] = True
        self._state = None

    # --- state -----------------------------------------------------------------------------
    def get_state(self) -> RobotState:
        if self._state is None:
            d = self.robot.data
            body_vel = _read(d, "body_link_vel_w", "body_vel_w")  # (N, B, 6) lin + ang of the link origins
            sim = {
                "root_link_pose_w": _read(d, "root_link_pose_w", "root_pose_w"),
                "root_link_vel_w": _read(d, "root_link_vel_w", "root_vel_w"),
                "joint_pos": _read(d, "joint_pos"),
                "joint_vel": _read(d, "joint_vel"),
                "body_link_pos_w": _read(d, "body_link_pos_w", "body_pos_w"),
                "body_link_quat_w": _read(d, "body_link_quat_w", "body_quat_w"),
                "body_link_lin_vel_w": body_vel[..., 0:3],
                "body_link_ang_vel_w": body_vel[..., 3:6],
                # a reset env has no contacts until it is stepped (MuJoCo's reset clears them too)
                "net_forces_w": _read(self.contacts.data, "net_forces_w") * (~self._fresh)[:, None, None],
            }
            state = convert.state_from_sim(self.layout, sim)
            self._state = RobotState(
                **{k: v.to(self.device, torch.float32) for k, v in state.__dict__.items()}
            )
        return self._state

    def close(self) -> None:
        global _APP
        if getattr(self, "sim", None) is not None and hasattr(self.sim, "stop"):
            self.sim.stop()
        if _APP is not None:
            _APP.close()
            _APP = None

"""The SMPL-topology humanoid: names, tree, gains and body proportions.

Frame conventions of the whole framework (stated once, here):
- world is Z-up; the humanoid's rest pose faces +x with its left side towards +y;
- quaternions are xyzw (see :mod:`protomotions.utils.rotations`);
- every joint but the root is three hinges about the child body's local x, then y, then z
  axes, so the local rotation is Rx(a)·Ry(b)·Rz(c); DoF order is body-major, then x, y, z.

Proportions are our own: segment lengths as fractions of stature from published
anthropometric tables (Drillis & Contini 1966, as tabulated by Winter, *Biomechanics and
Motor Control of Human Movement*), scaled to a 1.75 m adult, and radii chosen so that the
total mass (density 1000 kg/m³) is close to 70 kg. No number here comes from the SMPL
template or from another project's model file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STATURE_M = 1.75

BODY_NAMES: tuple[str, ...] = (
    "Pelvis", "L_Hip", "L_Knee", "L_Ankle", "L_Toe", "R_Hip", "R_Knee", "R_Ankle", "R_Toe",
    "Torso", "Spine", "Chest", "Neck", "Head", "L_Thorax", "L_Shoulder", "L_Elbow", "L_Wrist",
    "L_Hand", "R_Thorax", "R_Shoulder", "R_Elbow", "R_Wrist", "R_Hand",
)
PARENT_INDICES: tuple[int, ...] = (
    -1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 12, 11, 14, 15, 16, 17, 11, 19, 20, 21, 22,
)
NUM_BODIES = len(BODY_NAMES)  # 24
NUM_JOINTS = NUM_BODIES - 1  # 23 three-hinge joints
NUM_DOFS = 3 * NUM_JOINTS  # 69
HINGE_AXES = ("x", "y", "z")
DOF_NAMES: tuple[str, ...] = tuple(f"{b}_{a}" for b in BODY_NAMES[1:] for a in HINGE_AXES)

# left ↔ right body swap used for mirroring motions and observations
MIRROR_BODY_INDICES: tuple[int, ...] = tuple(
    BODY_NAMES.index(n.replace("L_", "#").replace("R_", "L_").replace("#", "R_")) for n in BODY_NAMES
)

KEY_BODY_NAMES = ("L_Ankle", "R_Ankle", "L_Hand", "R_Hand")
FOOT_BODY_NAMES = ("L_Ankle", "L_Toe", "R_Ankle", "R_Toe")  # contacts allowed without falling
# bodies a masked-mimic expert can be conditioned on (pelvis, ankles, hands, head)
CONDITIONABLE_BODY_NAMES = ("Pelvis", "L_Ankle", "R_Ankle", "L_Hand", "R_Hand", "Head")

# PD gains per joint group (stiffness N·m/rad, damping N·m·s/rad), torque limit 500 N·m
PD_GAINS: dict[str, tuple[float, float]] = {
    "Hip": (800.0, 80.0), "Knee": (800.0, 80.0), "Ankle": (800.0, 80.0), "Toe": (500.0, 50.0),
    "Torso": (1000.0, 100.0), "Spine": (1000.0, 100.0), "Chest": (1000.0, 100.0),
    "Neck": (500.0, 50.0), "Head": (500.0, 50.0), "Thorax": (500.0, 50.0),
    "Shoulder": (500.0, 50.0), "Elbow": (500.0, 50.0), "Wrist": (300.0, 30.0), "Hand": (300.0, 30.0),
}
EFFORT_LIMIT = 500.0
ARMATURE = 0.1  # with 1/240 s physics; measured stable, see DESIGN.md "Rates"
JOINT_RANGE_DEG = 180.0


def joint_group(body_name: str) -> str:
    return body_name.split("_")[-1]


def pd_gains_per_dof() -> tuple[list[float], list[float]]:
    kp, kd = [], []
    for body in BODY_NAMES[1:]:
        p, d = PD_GAINS[joint_group(body)]
        kp += [p] * 3
        kd += [d] * 3
    return kp, kd


@dataclass(frozen=True)
class Segment:
    """One body: joint offset from its parent (m, rest pose) and its collision geom.

    ``geom`` is ("capsule", (x0, y0, z0, x1, y1, z1), radius), ("box", center, half_sizes) or
    ("sphere", center, radius), all in the body frame.
    """

    name: str
    offset: tuple[float, float, float]
    geom: tuple
    extra_geoms: tuple = field(default_factory=tuple)


def _scaled(h: float) -> dict[str, float]:
    """Segment lengths (m) for stature ``h`` from fractions of stature."""
    return {
        "hip_height": 0.530 * h,       # greater trochanter ≈ hip joint centre
        "thigh": 0.245 * h,            # hip → knee
        "shank": 0.246 * h,            # knee → ankle
        "ankle_height": 0.039 * h,
        "foot_length": 0.152 * h,
        "hip_half_width": 0.049 * h,   # half the distance between hip joint centres
        "pelvis_to_hip_drop": 0.040 * h,
        "lumbar": 0.063 * h,           # pelvis → Torso (L3)
        "thoracic_low": 0.074 * h,     # Torso → Spine (T12)
        "thoracic_high": 0.034 * h,    # Spine → Chest (T6)
        "chest_to_neck": 0.091 * h,    # Chest → Neck (C7)
        "neck": 0.053 * h,             # Neck → Head (atlas)
        "collar_up": 0.063 * h, "collar_out": 0.040 * h,
        "collar_to_shoulder": 0.063 * h,
        "upper_arm": 0.186 * h,
        "forearm": 0.146 * h,
        "wrist_to_hand": 0.050 * h,    # wrist → knuckles (hand length 0.108 h)
    }


def build_segments(h: float = STATURE_M) -> list[Segment]:
    s = _scaled(h)
    segments: list[Segment] = [
        Segment("Pelvis", (0.0, 0.0, 0.0), ("box", (-0.01, 0.0, -0.02), (0.09, 0.13, 0.07))),
    ]
    foot_len = s["foot_length"]
    heel_back = 0.25 * foot_len
    ball_fwd = foot_len - heel_back - 0.045 * h / 1.75  # the toe segment takes the last ~4.5 cm
    for side, sign in (("L", 1.0), ("R", -1.0)):
        segments += [
            Segment(f"{side}_Hip", (0.0, sign * s["hip_half_width"], -s["pelvis_to_hip_drop"]),
                    ("capsule", (0.0, 0.0, -0.03, 0.0, 0.0, -s["thigh"] + 0.04), 0.062)),
            Segment(f"{side}_Knee", (0.0, 0.0, -s["thigh"]),
                    ("capsule", (0.0, 0.0, -0.03, 0.0, 0.0, -s["shank"] + 0.05), 0.050)),
            Segment(f"{side}_Ankle", (0.0, 0.0, -s["shank"]),
                    ("box", (0.5 * (ball_fwd - heel_back), 0.0, -0.5 * s["ankle_height"] + 0.005),
                     (0.5 * (ball_fwd + heel_back), 0.045, 0.5 * s["ankle_height"] + 0.005))),
            Segment(f"{side}_Toe", (ball_fwd, 0.0, -s["ankle_height"] + 0.02),
                    ("capsule", (0.025, -0.035, -0.0, 0.025, 0.035, 0.0), 0.02)),
        ]
    segments += [
        Segment("Torso", (-0.01, 0.0, s["lumbar"]),
                ("capsule", (0.0, -0.07, 0.04, 0.0, 0.07, 0.04), 0.085)),
        Segment("Spine", (0.0, 0.0, s["thoracic_low"]),
                ("capsule", (0.0, -0.07, 0.03, 0.0, 0.07, 0.03), 0.090)),
        Segment("Chest", (0.0, 0.0, s["thoracic_high"]),
                ("capsule", (-0.01, -0.08, 0.08, -0.01, 0.08, 0.08), 0.100)),
        Segment("Neck", (0.0, 0.0, s["chest_to_neck"]),
                ("capsule", (0.0, 0.0, 0.0, 0.0, 0.0, s["neck"] - 0.01), 0.045)),
        Segment("Head", (0.0, 0.0, s["neck"]), ("sphere", (0.01, 0.0, 0.09), 0.100)),
    ]
    for side, sign in (("L", 1.0), ("R", -1.0)):
        segments += [
            Segment(f"{side}_Thorax", (0.0, sign * s["collar_out"], s["collar_up"]),
                    ("capsule", (0.0, sign * 0.01, 0.0, 0.0, sign * (s["collar_to_shoulder"] - 0.02), 0.0), 0.045)),
            Segment(f"{side}_Shoulder", (0.0, sign * s["collar_to_shoulder"], 0.0),
                    ("capsule", (0.0, sign * 0.03, 0.0, 0.0, sign * (s["upper_arm"] - 0.03), 0.0), 0.045)),
            Segment(f"{side}_Elbow", (0.0, sign * s["upper_arm"], 0.0),
                    ("capsule", (0.0, sign * 0.02, 0.0, 0.0, sign * (s["forearm"] - 0.02), 0.0), 0.038)),
            Segment(f"{side}_Wrist", (0.0, sign * s["forearm"], 0.0),
                    ("capsule", (0.0, sign * 0.01, 0.0, 0.0, sign * (s["wrist_to_hand"] - 0.01), 0.0), 0.030)),
            Segment(f"{side}_Hand", (0.0, sign * s["wrist_to_hand"], 0.0),
                    ("box", (0.0, sign * 0.03, 0.0), (0.045, 0.035, 0.015))),
        ]
    by_name = {seg.name: seg for seg in segments}
    return [by_name[n] for n in BODY_NAMES]


# Pairs that touch in ordinary motion and would otherwise make the PD fight itself. MuJoCo already
# ignores parent-child pairs; these are the grandparent/sibling pairs that overlap at rest.
CONTACT_EXCLUDES: tuple[tuple[str, str], ...] = (
    ("Pelvis", "Spine"), ("Torso", "Chest"), ("Spine", "Neck"), ("Spine", "L_Thorax"),
    ("Spine", "R_Thorax"), ("Chest", "L_Shoulder"), ("Chest", "R_Shoulder"), ("L_Thorax", "R_Thorax"),
    ("L_Thorax", "Neck"), ("R_Thorax", "Neck"), ("Chest", "Head"), ("L_Thorax", "Head"), ("R_Thorax", "Head"),
    ("L_Hip", "R_Hip"), ("Pelvis", "L_Knee"), ("Pelvis", "R_Knee"), ("Torso", "L_Hip"), ("Torso", "R_Hip"),
    ("L_Knee", "L_Toe"), ("R_Knee", "R_Toe"), ("L_Elbow", "L_Hand"), ("R_Elbow", "R_Hand"),
)


def default_root_height(h: float = STATURE_M) -> float:
    """Pelvis height at which the soles of the rest pose touch z = 0."""
    seg = {s.name: s for s in build_segments(h)}
    ankle_z = sum(seg[n].offset[2] for n in ("L_Hip", "L_Knee", "L_Ankle"))
    _, center, half = seg["L_Ankle"].geom
    return -(ankle_z + center[2] - half[2])

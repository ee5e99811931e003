"""Rebuild every shipped motion from the raw CMU files:

    python -m protomotions.motion.build_dataset --source ../shared/data --out data/motions

Writes ``<out>/<clip>.npy`` and ``<out>/<clip>_mirror.npy`` for every usable clip,
``<out>/smpl_humanoid_walk.npy`` (the default straight walk), ``<out>/locomotion.yaml`` and
``<out>/DATA_LICENSE.md``. Clip choices (kept / dropped and why) live in :data:`CLIPS`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from protomotions.motion import retarget
from protomotions.motion.asf_amc import read_asf_amc
from protomotions.motion.bvh import read_bvh
from protomotions.motion.info import clip_info
from protomotions.motion.motion_file import save_motion

ACK = ("The data used in this project was obtained from mocap.cs.cmu.edu. "
       "The database was created with funding from NSF EIA-0196217.")

# (clip id, labels, CMU description); file type from the id's subject
CLIPS = [
    ("16_21", ["walk"], "walk (straight)"),
    ("16_18", ["walk", "turn"], "walk, 90-degree left turn"),
    ("16_34", ["walk", "stop"], "slow walk, stop"),
    ("16_35", ["run"], "run/jog"),
    ("16_41", ["run", "turn"], "run/jog, 90-degree left turn"),
    ("16_43", ["run", "turn"], "run/jog, 90-degree right turn"),
    ("16_51", ["run", "turn"], "run, 90-degree left turn"),
    ("16_57", ["run", "stop"], "run/jog, sudden stop"),
    ("02_01", ["walk"], "walk"),
    ("02_02", ["walk"], "walk"),
    ("02_03", ["run"], "run/jog"),
]
DROPPED = {
    "03_01": "uneven terrain: the support foot is 13-32 cm above the clip's lowest level in every second",
    "03_02": "uneven terrain: the support foot is 12-32 cm above the clip's lowest level in every second",
    "03_03": "uneven terrain (38 s): no flat stretch of 1.5 s or more (support foot within 3 cm of the floor)",
    "03_04": "uneven terrain (39 s): no flat stretch of 1.5 s or more (support foot within 3 cm of the floor)",
}
# Variants of kept clips: (clip id, name suffix, time scale, seconds held still at the end, labels).
# The captures walk at 0.7-1.7 m/s and never stand; the steering and path tasks command 0-2 m/s and
# stops, and the v0 expert fell on 11 of 30 steering falls while commanded below 0.5 m/s.
VARIANTS = [
    ("16_21", "slow50", 0.5, 0.0, ["walk", "slow"]),
    ("02_01", "slow60", 0.6, 0.0, ["walk", "slow"]),
    ("02_02", "slow50", 0.5, 0.0, ["walk", "slow"]),
    ("16_34", "stand", 1.0, 2.0, ["walk", "stop", "stand"]),
    # session 4: with arc keyframes, 10 of the v1 expert's 16 remaining steering falls came at commands
    # below 0.5 m/s, so slower stops and turns
    ("16_34", "slow60_stand", 0.6, 2.0, ["walk", "slow", "stop", "stand"]),
    ("16_18", "slow60", 0.6, 0.0, ["walk", "turn", "slow"]),
    ("16_57", "stand", 1.0, 2.0, ["run", "stop", "stand"]),
]
WALK_CLIP = "02_01"  # 2.83 s straight walk, lengthened by one stitched gait cycle to ≥ 3 s


# Skate is bounded at 0.20 m/s, not 0.10: the root path is the source's (scaled) and is never shifted
# to pin stance feet, because that pinning made 40-145 m/s² root-acceleration spikes (see retarget.py).
# Runs land at 0.16-0.19 m/s, walks at 0.07-0.10 m/s.
QUALITY_TARGETS = {"max_penetration_m": 0.02, "foot_skate_mps": 0.20, "max_root_accel_mps2": 30.0}


def load_source(source_dir: Path, clip_id: str):
    """Raw CMU clip → (Z-up SourceMotion, joint map, source description)."""
    subject = clip_id.split("_")[0]
    bvh = source_dir / "cmu_bvh" / f"{clip_id}.bvh"
    if bvh.is_file():
        # cgspeed BVH: frame 0 is a reference pose added by the conversion, not capture
        return read_bvh(bvh, drop_first_frame=True).to_zup(), retarget.CMU_BVH_MAP, f"CMU {clip_id} (cgspeed BVH)"
    amc = source_dir / "cmu_asfamc" / f"{clip_id}.amc"
    asf = source_dir / "cmu_asfamc" / f"{subject}.asf"
    if amc.is_file() and asf.is_file():
        return read_asf_amc(asf, amc).to_zup(), retarget.CMU_ASF_MAP, f"CMU {clip_id} (ASF/AMC)"
    raise FileNotFoundError(f"no raw file for CMU clip {clip_id}: looked for {bvh} and {amc} + {asf}; "
                            f"pass --source pointing at shared/data")


def _at_origin(clip: dict) -> dict:
    """Start every clip with the pelvis above the world origin (keeps heading and height)."""
    off = clip["root_pos"][0].copy()
    off[2] = 0.0
    clip["root_pos"] = clip["root_pos"] - off
    clip["body_pos"] = clip["body_pos"] - off
    return clip


def build(source_dir: Path, out_dir: Path) -> list[dict]:
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, entries = [], []
    descriptions = {c: d for c, _, d in CLIPS}
    jobs = [(c, c, labels, 1.0, 0.0, "") for c, labels, _ in CLIPS]
    jobs += [(c, f"{c}_{suffix}", labels, scale, hold, f"; played at {scale:g}x speed" * (scale != 1.0)
              + f"; last pose held {hold:g} s" * (hold > 0)) for c, suffix, scale, hold, labels in VARIANTS]
    for clip_id, stem, labels, scale, hold, how in jobs:
        src, mapping, what = load_source(source_dir, clip_id)
        for mirror in (False, True):
            name = f"cmu_{stem}" + ("_mirror" if mirror else "")
            meta = {"name": name, "labels": ",".join(labels), "license": ACK,
                    "source": f"{what}: {descriptions[clip_id]}; retargeted to smpl_humanoid by "
                              f"protomotions.motion.retarget{how}" + ("; left/right mirrored" if mirror else "")}
            clip = _at_origin(retarget.retarget(src, mapping, meta=meta, mirror=mirror, time_scale=scale, hold_s=hold))
            save_motion(out_dir / f"{name}.npy", clip)
            rows.append({"file": f"{name}.npy", **clip_info(clip)})
            entries.append({"file": f"{name}.npy", "weight": 1.0, "labels": labels})
    src, mapping, what = load_source(source_dir, WALK_CLIP)
    meta = {"name": "smpl_humanoid_walk", "labels": "walk", "license": ACK,
            "source": f"{what}: walk; retargeted to smpl_humanoid by protomotions.motion.retarget"}
    walk = _at_origin(retarget.retarget(src, mapping, meta=meta, extra_cycles=1))
    save_motion(out_dir / "smpl_humanoid_walk.npy", walk)
    rows.append({"file": "smpl_humanoid_walk.npy", **clip_info(walk)})
    _write_yaml(out_dir / "locomotion.yaml", entries)
    _write_license(out_dir / "DATA_LICENSE.md")
    return rows


def _write_yaml(path: Path, entries: list[dict]) -> None:
    lines = ["# Locomotion clips retargeted from CMU mocap (see DATA_LICENSE.md); 30 fps, our SMPL humanoid.",
             "# Rebuild: python -m protomotions.motion.build_dataset --source ../shared/data --out data/motions",
             "# Every clip comes with its left/right mirror (*_mirror.npy). Dropped raw clips:"]
    lines += [f"#   {k}: {v}" for k, v in DROPPED.items()]
    lines.append("motions:")
    for e in entries:
        lines.append(f"  - {{file: {e['file']}, weight: {e['weight']}, labels: [{', '.join(e['labels'])}]}}")
    path.write_text("\n".join(lines) + "\n")


def _write_license(path: Path) -> None:
    kept = "\n".join(f"| {c} | {desc} | {', '.join(lab)} |" for c, lab, desc in CLIPS)
    dropped = "\n".join(f"- {k}: {v}" for k, v in DROPPED.items())
    variants = "\n".join(f"- `cmu_{c}_{suffix}`: CMU {c} played at {scale:g}x speed, last pose held {hold:g} s "
                         f"({', '.join(lab)})" for c, suffix, scale, hold, lab in VARIANTS)
    path.write_text(f"""# Motion data licence

Every clip in this folder is derived from the CMU Graphics Lab Motion Capture Database
(http://mocap.cs.cmu.edu): subject 16 from the cgspeed BVH conversion by Bruce Hahne, subject 02
from the original ASF/AMC files. We retargeted them to our SMPL-topology humanoid (our own code,
`protomotions/motion/`), resampled them to 30 fps and added left/right mirrored copies, plus
slowed and held variants of a few clips (listed below).

## Terms (our summary, not legal advice)

The CMU data may be used freely for research and commercial work, including in products, and may
be copied, modified and redistributed, as we do here. What is not allowed is selling the motion
data itself as data, whether as is or converted to another format (such as these files). If you
use these files, keep this notice and include CMU's acknowledgement:

"{ACK}"

## Clips

| CMU clip | CMU description | labels |
|---|---|---|
{kept}

Variants (each with its mirror), for speeds and stops the captures lack:

{variants}

`smpl_humanoid_walk.npy` is CMU 02_01 (a 2.83 s straight walk) with one extra gait cycle stitched
in at the best-matching pose, so that the default clip lasts at least 3 s (seam noted in its
`source` string).

## Dropped

{dropped}
""")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default="../shared/data", help="folder holding cmu_bvh/ and cmu_asfamc/")
    p.add_argument("--out", default="data/motions")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    rows = build(Path(a.source), Path(a.out))
    for r in rows:
        print(json.dumps(r))
    total = sum((Path(a.out) / r["file"]).stat().st_size for r in rows)
    print(f"{len(rows)} clips, {total / 1e6:.2f} MB, {time.perf_counter() - t0:.1f} s")
    bad = [r["file"] for r in rows if r["max_penetration_m"] > QUALITY_TARGETS["max_penetration_m"]
           or r["foot_skate_mps"] > QUALITY_TARGETS["foot_skate_mps"]
           or r["max_root_accel_mps2"] > QUALITY_TARGETS["max_root_accel_mps2"] or r["joint_limit_violations"]]
    if bad:
        print(f"clips over target ({QUALITY_TARGETS}, no joint-limit violation):", bad)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

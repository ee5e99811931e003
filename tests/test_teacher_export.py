"""A tracker's actor-only export labels actions exactly as the full checkpoint does, at about half the bytes."""

import torch

from protomotions.agents.checkpoint import load_checkpoint
from protomotions.agents.masked_mimic.teacher import export_actor, load_tracker, main, saved_obs_spec


def test_actor_export_acts_like_the_full_tracker(tiny_expert, tmp_path):
    tracker_dir = tiny_expert.parent / "tracker"
    full_ckpt = tracker_dir / "last.ckpt"
    out = export_actor(tracker_dir, tmp_path / "teacher")
    assert (tmp_path / "teacher" / "config.yaml").is_file()
    slim = load_checkpoint(out)
    assert slim["actor_only"] and not any(k.startswith("critic") for k in slim["model"])
    assert out.stat().st_size < 0.75 * full_ckpt.stat().st_size
    spec = saved_obs_spec(load_checkpoint(full_ckpt))
    full, exported = load_tracker(full_ckpt, spec, 69, "cpu"), load_tracker(out, spec, 69, "cpu")
    obs = {k: torch.randn(5, n, generator=torch.Generator().manual_seed(i)) for i, (k, n) in enumerate(spec.items())}
    assert torch.equal(full(obs), exported(obs))


def test_export_of_a_missing_run_is_an_error(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nothing"), str(tmp_path / "out")]) == 2
    assert "Expert model path not found" in capsys.readouterr().err

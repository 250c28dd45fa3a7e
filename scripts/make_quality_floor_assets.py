"""Write assets/quality_floor/: for the first held-out demo of each task (seed >= 10000), its real
start frame, its first chunk of expert actions and the real frame after that chunk. The
checkpoint test (tests/test_checkpoint_quality.py) predicts that frame and checks its PSNR."""

import json
from pathlib import Path

import h5py
import mediapy

from physgen.eval.open_loop import ensure_held_out_demos, held_out_episodes
from physgen.sim.camera import CAMERA_NAME
from physgen.sim.scenes import TARGET_TASKS

OUT = Path(__file__).resolve().parents[1] / "assets" / "quality_floor"
CHUNK = 8  # the shipped model's chunk; the test reads it from the checkpoint and checks it matches

if __name__ == "__main__":
    ensure_held_out_demos("data/eval_demos", per_scene=1)
    OUT.mkdir(parents=True, exist_ok=True)
    cases = []
    for scene, episodes in held_out_episodes("data/eval_demos", TARGET_TASKS, per_scene=1).items():
        ep = episodes[0]
        with h5py.File(ep.path, "r") as f:
            frames = f[ep.key][f"obs/sensor_data/{CAMERA_NAME}/rgb"]
            start, after = frames[0], frames[CHUNK]
            actions = f[ep.key]["actions"][:CHUNK]
        mediapy.write_image(OUT / f"{scene}_start.png", start)
        mediapy.write_image(OUT / f"{scene}_after.png", after)
        cases.append({"scene": scene, "seed": ep.seed, "actions": actions.round(6).tolist()})
    (OUT / "cases.json").write_text(json.dumps(cases, indent=1))
    print(f"wrote {len(cases)} cases to {OUT}")

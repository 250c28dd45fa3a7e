"""Render assets/first_frames/<scene>.png (seed 0): the first frames the app predicts from when the
simulator cannot start on the host. Run after changing the studio camera or the scenes."""

from pathlib import Path

import mediapy

from physgen.sim.scenes import SCENES
from physgen.sim.simulator import Simulator

OUT = Path(__file__).resolve().parents[1] / "assets" / "first_frames"

if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    sim = Simulator()
    for env_id in SCENES:
        mediapy.write_image(OUT / f"{env_id}.png", sim.reset(env_id, 0).frame)
        print(OUT / f"{env_id}.png")
    sim.close()

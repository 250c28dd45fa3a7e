"""The object-permanence probe: does the world model keep a cube that slides behind a wall?

The simulator runs the probe scene's scripted push (physgen.sim.experts.probe_waypoints), which hides
the red cube behind the wall for several chunks and then reveals it past the wall. The world
model imagines the same actions open loop from the real first frame, and, to tell memory from
drift, one chunk ahead of the real frames (`one_step`).

Presence is scored at the cube's true position, projected into the image every chunk (it is known
even while the cube is hidden):
- ground truth: visible cube pixels from segmentation, relative to the first frame;
- any frame (predicted, real, or a tokenizer reconstruction): the fraction of a small disc around
  that position with the cube's hue, relative to the real first frame.
- tokenizer ceiling: the score on reconstructions of the real frames, i.e. a perfect world model seen
  through this VAE. If the VAE loses the cube, no world model on its tokens can show permanence.
The hue rule is local (a disc) because the wooden table is reddish too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physgen.actions.space import DEFAULT_CHUNK_LEN, pad_to_chunks, world_to_pixel
from physgen.sim.experts import follow_waypoints, probe_waypoints
from physgen.sim.simulator import Simulator

PROBE_SCENE = "PermanenceProbe-v1"
DISC_RADIUS_PX = 4
RED_EXCESS = 60
GREEN_BLUE_BALANCE = 20
WALL_TOLERANCE = 40  # intensity levels (0-255) within which a wall pixel counts as kept


@dataclass
class ProbeEpisode:
    seed: int
    actions: np.ndarray  # (N * L, 7) the scripted push, padded to whole chunks
    frames: np.ndarray  # (N + 1, H, W, 3) real frames at chunk boundaries, the first frame included
    visible_pixels: np.ndarray  # (N + 1,) cube pixels visible (segmentation)
    cube_pixel: np.ndarray  # (N + 1, 2) the cube centre projected into the image (x, y), hidden or not
    first_mask: np.ndarray  # (H, W) bool, the cube's pixels in the first frame
    wall_mask: np.ndarray  # (H, W) bool, the wall's silhouette (its box projected into the image)

    @property
    def ground_truth_presence(self) -> np.ndarray:
        return self.visible_pixels / max(int(self.visible_pixels[0]), 1)

    @property
    def hidden_chunks(self) -> np.ndarray:
        """Indices of chunk boundaries at which the cube is fully hidden."""
        return np.flatnonzero(self.visible_pixels == 0)


def run_probe(sim: Simulator, seed: int = 0, chunk_len: int = DEFAULT_CHUNK_LEN) -> ProbeEpisode:
    """Run the scripted occlusion in the simulator and record it at chunk boundaries."""
    obs = sim.reset(PROBE_SCENE, seed)
    camera = sim.camera
    first_mask = obs.object_mask.copy()
    frames, visible, centres, scripted = [], [], [], []

    def record(observation):
        frames.append(observation.frame)
        visible.append(observation.object_pixels["cube"])
        centres.append(world_to_pixel(sim.object_positions["cube"], camera["intrinsic"], camera["extrinsic_cv"]))

    def step(action):
        scripted.append(action)
        observation = sim.step(action).observation
        if len(scripted) % chunk_len == 0:
            record(observation)

    record(obs)
    follow_waypoints(probe_waypoints(sim.object_positions["cube"]), lambda: sim.ee_position, step)
    actions, pad = pad_to_chunks(np.asarray(scripted), chunk_len)
    if pad:
        record(sim.step(actions[-pad:]).observation)
    from physgen.sim.probe_scene import WALL_HALF_SIZE  # imports ManiSkill

    return ProbeEpisode(seed, actions, np.stack(frames), np.asarray(visible), np.stack(centres), first_mask,
                        project_box(sim.actor_position("wall"), WALL_HALF_SIZE, camera, first_mask.shape))


def project_box(centre, half_sizes, camera: dict, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the silhouette of an axis-aligned box seen by the camera."""
    import cv2

    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * np.asarray(half_sizes) + centre
    pixels = np.array([world_to_pixel(c, camera["intrinsic"], camera["extrinsic_cv"]) for c in corners])
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(pixels).astype(np.int32)), 1)
    return mask.astype(bool)


def wall_agreement(episode: ProbeEpisode, frames) -> np.ndarray:
    """(N + 1,) fraction of the wall's silhouette where `frames` match the real frames within
    WALL_TOLERANCE intensity levels (the arm may pass in front: the real frame is the reference)."""
    scores = []
    for frame, real in zip(frames, episode.frames):
        close = np.abs(frame.astype(np.int16) - real.astype(np.int16)).max(axis=-1) <= WALL_TOLERANCE
        scores.append(float(close[episode.wall_mask].mean()) if episode.wall_mask.any() else float("nan"))
    return np.asarray(scores)


def imagine(world, episode: ProbeEpisode) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """PhysGen's open-loop frames for the probe's actions from its real first frame, and the
    tokenizer ceiling (round trips of the real frames), one per chunk boundary."""
    world.reset(frame=episode.frames[0], seed=episode.seed)
    first = world.reconstruct(episode.frames[0])
    predicted = [first, *world.step(episode.actions).frames]
    ceiling = [first, *(world.reconstruct(f) for f in episode.frames[1:])]
    return predicted, ceiling


def one_step(world, episode: ProbeEpisode) -> list[np.ndarray]:
    """PhysGen's frames one chunk ahead of the real ones: each predicted from the real frames
    before it (teacher forcing), one per chunk boundary. Next to `imagine`'s open loop, this
    separates what the model keeps from what its own drift loses."""
    world.reset(frame=episode.frames[0], seed=episode.seed)
    frames = [world.reconstruct(episode.frames[0])]
    for n, real in enumerate(episode.frames[1:]):
        chunk = episode.actions[n * world.chunk : (n + 1) * world.chunk]
        frames.append(world.predict(chunk))
        world.observe(real, chunk)
    return frames


def after_reappearance(episode: ProbeEpisode, scores: np.ndarray) -> float:
    """Mean of per-chunk scores after the cube was last fully hidden (NaN if it never was)."""
    hidden = episode.hidden_chunks
    if not len(hidden) or hidden[-1] + 1 >= len(scores):
        return float("nan")
    return float(np.mean(scores[hidden[-1] + 1 :]))


def disc_mask(shape: tuple[int, int], centre_xy, radius: float = DISC_RADIUS_PX) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (xx - centre_xy[0]) ** 2 + (yy - centre_xy[1]) ** 2 <= radius**2


def cube_pixels(frame: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels with the probe cube's hue (red with green = blue; the wooden table has
    green well above blue, the grey wall and the white arm have no red excess)."""
    f = frame.astype(np.int16)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    return (r - np.maximum(g, b) > RED_EXCESS) & (np.abs(g - b) < GREEN_BLUE_BALANCE)


def disc_fraction(frame: np.ndarray, centre_xy) -> float:
    """Fraction of the disc around centre_xy that has the cube's hue."""
    disc = disc_mask(frame.shape[:2], centre_xy)
    return float(cube_pixels(frame)[disc].mean()) if disc.any() else 0.0


def presence_scores(episode: ProbeEpisode, frames) -> np.ndarray:
    """(N + 1,) presence of the cube in `frames` (one per chunk boundary): the cube-hued fraction of
    the disc at its true position, relative to that of the real first frame (1.0 = as visible as
    at the start, 0 = gone)."""
    base = max(disc_fraction(episode.frames[0], episode.cube_pixel[0]), 1e-6)
    return np.array([disc_fraction(f, c) / base for f, c in zip(frames, episode.cube_pixel)])

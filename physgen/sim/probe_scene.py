"""PermanenceProbe-v1: an object-permanence probe, registered as a real ManiSkill task.

**Task Description:**
A red cube stands on the table to the robot's right. A grey wall stands between the cube's path
and the studio camera. The robot pushes the cube sideways (+y) behind the wall, where the camera
cannot see it for several steps, and on to the far side, where it reappears. A world model that
keeps objects in existence while they are hidden should predict the cube re-emerging.

**Randomizations:**
- the cube's x is uniform in [-0.04, 0.0] and its y in [-0.18, -0.16]; it stands flat on the table;
- the wall's x is uniform in [0.07, 0.08] and its y in [-0.01, 0.01].

**Success Conditions:**
- the cube's y is beyond +0.10 (past the wall) and it is still on the table.

Visibility ground truth comes from the camera's segmentation (see `physgen.sim.simulator`), not from here:
`evaluate()` runs before the frame is rendered.
"""

from __future__ import annotations

import numpy as np
import sapien
import torch
from mani_skill.agents.robots import Panda
from mani_skill.envs.sapien_env import BaseEnv
from mani_skill.sensors.camera import CameraConfig
from mani_skill.utils import sapien_utils
from mani_skill.utils.building import actors
from mani_skill.utils.registration import register_env
from mani_skill.utils.scene_builder.table import TableSceneBuilder
from mani_skill.utils.structs import Pose

from physgen import IMAGE_SIZE
from physgen.sim.camera import CAMERA_NAME, STUDIO_CAMERA_EYE, STUDIO_CAMERA_FOV, STUDIO_CAMERA_TARGET

CUBE_HALF_SIZE = 0.02
# Wide and tall enough that, seen from the studio camera, the whole cube is hidden while |y| < ~0.05.
WALL_HALF_SIZE = (0.005, 0.06, 0.065)
SUCCESS_Y = 0.10


@register_env("PermanenceProbe-v1", max_episode_steps=160)
class PermanenceProbeEnv(BaseEnv):
    SUPPORTED_ROBOTS = ["panda"]
    agent: Panda

    def __init__(self, *args, robot_uids="panda", robot_init_qpos_noise=0.02, **kwargs):
        self.robot_init_qpos_noise = robot_init_qpos_noise
        super().__init__(*args, robot_uids=robot_uids, **kwargs)

    @property
    def _default_sensor_configs(self):
        pose = sapien_utils.look_at(eye=list(STUDIO_CAMERA_EYE), target=list(STUDIO_CAMERA_TARGET))
        return [CameraConfig(CAMERA_NAME, pose, IMAGE_SIZE, IMAGE_SIZE, STUDIO_CAMERA_FOV, 0.01, 100)]

    @property
    def _default_human_render_camera_configs(self):
        pose = sapien_utils.look_at([0.6, 0.7, 0.6], [0.0, 0.0, 0.35])
        return CameraConfig("render_camera", pose, 512, 512, 1, 0.01, 100)

    def _load_agent(self, options: dict):
        super()._load_agent(options, sapien.Pose(p=[-0.615, 0, 0]))

    def _load_scene(self, options: dict):
        self.table_scene = TableSceneBuilder(env=self, robot_init_qpos_noise=self.robot_init_qpos_noise)
        self.table_scene.build()
        self.cube = actors.build_cube(
            self.scene,
            half_size=CUBE_HALF_SIZE,
            color=np.array([200, 30, 30, 255]) / 255,
            name="cube",
            body_type="dynamic",
            initial_pose=sapien.Pose(p=[0, -0.17, CUBE_HALF_SIZE]),
        )
        self.wall = actors.build_box(
            self.scene,
            half_sizes=list(WALL_HALF_SIZE),
            color=np.array([140, 140, 150, 255]) / 255,
            name="wall",
            body_type="kinematic",
            initial_pose=sapien.Pose(p=[0.075, 0, WALL_HALF_SIZE[2]]),
        )

    def _initialize_episode(self, env_idx: torch.Tensor, options: dict):
        with torch.device(self.device):
            b = len(env_idx)
            self.table_scene.initialize(env_idx)
            cube_xyz = torch.zeros((b, 3))
            cube_xyz[:, 0] = torch.rand(b) * 0.04 - 0.04
            cube_xyz[:, 1] = torch.rand(b) * 0.02 - 0.18
            cube_xyz[:, 2] = CUBE_HALF_SIZE
            self.cube.set_pose(Pose.create_from_pq(p=cube_xyz, q=[1, 0, 0, 0]))
            wall_xyz = torch.zeros((b, 3))
            wall_xyz[:, 0] = torch.rand(b) * 0.01 + 0.07
            wall_xyz[:, 1] = torch.rand(b) * 0.02 - 0.01
            wall_xyz[:, 2] = WALL_HALF_SIZE[2]
            self.wall.set_pose(Pose.create_from_pq(p=wall_xyz, q=[1, 0, 0, 0]))

    def evaluate(self):
        cube_p = self.cube.pose.p
        past_wall = cube_p[..., 1] > SUCCESS_Y
        on_table = cube_p[..., 2] < CUBE_HALF_SIZE + 5e-3
        return {"success": past_wall & on_table, "cube_y": cube_p[..., 1]}

    def _get_obs_extra(self, info: dict):
        obs = dict(tcp_pose=self.agent.tcp.pose.raw_pose)
        if self.obs_mode_struct.use_state:
            obs.update(obj_pose=self.cube.pose.raw_pose, wall_pose=self.wall.pose.raw_pose)
        return obs

    def compute_dense_reward(self, obs, action, info: dict):
        # Progress of the cube toward the far side of the wall, plus reaching the cube's -y face.
        push_point = self.cube.pose.p + torch.tensor([0, -CUBE_HALF_SIZE - 0.01, 0], device=self.device)
        reach = 1 - torch.tanh(5 * torch.linalg.norm(push_point - self.agent.tcp.pose.p, axis=1))
        progress = torch.clamp((self.cube.pose.p[:, 1] + 0.17) / (SUCCESS_Y + 0.17), 0, 1)
        return reach + 2 * progress + 3 * info["success"].float()

    def compute_normalized_dense_reward(self, obs, action, info: dict):
        return self.compute_dense_reward(obs, action, info) / 6.0

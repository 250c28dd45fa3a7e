"""The studio camera: the one camera every scene is rendered from, and the frame size it renders.

ManiSkill's default `base_camera` sees the whole room with a 90° field of view, so at 64-128 px a
4 cm cube is 2-3 pixels and a VAE erases it. The studio camera looks at the workspace from the
front with a narrower field of view: at 128 px a cube is about 6-8 pixels wide and the arm stays in
frame. ManiSkill is imported only when a pose is computed. The frame size is physgen.IMAGE_SIZE.
"""

from __future__ import annotations

from physgen import IMAGE_SIZE

# The studio camera, as a sapien pose [x, y, z, qw, qx, qy, qz] so that it stays JSON-serialisable
# inside ManiSkill trajectory files (env_info.env_kwargs.sensor_configs).
STUDIO_CAMERA_EYE = (0.5, 0.0, 0.45)
STUDIO_CAMERA_TARGET = (-0.12, 0.0, 0.08)
STUDIO_CAMERA_FOV = 1.0  # radians, vertical
CAMERA_NAME = "base_camera"


def studio_camera_pose() -> list[float]:
    """The studio camera pose as [x, y, z, qw, qx, qy, qz] (computed with ManiSkill's look_at)."""
    from mani_skill.utils import sapien_utils

    pose = sapien_utils.look_at(eye=list(STUDIO_CAMERA_EYE), target=list(STUDIO_CAMERA_TARGET))
    return [round(float(v), 6) for v in pose.raw_pose[0].tolist()]


def studio_sensor_configs(image_size: int = IMAGE_SIZE) -> dict:
    """`sensor_configs` for gym.make: the studio camera at image_size x image_size."""
    return {
        "width": image_size,
        "height": image_size,
        CAMERA_NAME: {"pose": studio_camera_pose(), "fov": STUDIO_CAMERA_FOV},
    }

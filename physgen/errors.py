"""Errors with messages that say what was wrong and what is accepted."""


class PhysGenError(Exception):
    """Base class for the library's user-facing errors."""


class InputError(PhysGenError, ValueError):
    """A caller passed a value that is not accepted (unknown scene, bad seed, bad action...)."""


class SimulatorUnavailable(PhysGenError, RuntimeError):
    """ManiSkill could not start, usually because there is no usable Vulkan device."""


VULKAN_FIX = (
    "ManiSkill (SAPIEN) needs a Vulkan device even on CPU. Install Mesa 25 lavapipe from "
    "bookworm-backports: run `make system` (scripts/install_system.sh), or by hand "
    "`apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1`; "
    "`vulkaninfo --summary` must then list llvmpipe (PHYSICAL_DEVICE_TYPE_CPU, Mesa 25.x)."
)

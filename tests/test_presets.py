import numpy as np
import pytest

from physgen.actions.language import parse_actions
from physgen.actions.presets import PRESETS, preset_text
from physgen.errors import InputError


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_parses(name):
    text = preset_text(name, [0.0, 0.0, 0.2], {"cube": np.array([0.05, -0.05, 0.02])})
    assert len(parse_actions(text).actions) > 0


def test_unknown_preset_lists_the_presets():
    with pytest.raises(InputError, match="Grasp and lift"):
        preset_text("Juggle", [0, 0, 0.2], {"cube": np.zeros(3)})


@pytest.mark.sim
def test_push_right_moves_the_cube_right(sim):
    obs = sim.reset("PushCube-v1", seed=1)
    before = sim.object_positions["cube"]
    sim.step(parse_actions(preset_text("Push it right", obs.ee_pose[:3], sim.object_positions)).actions)
    assert sim.object_positions["cube"][1] > before[1] + 0.08

import pytest

from physgen.data.videos import CORPUS_SCENES
from physgen.errors import InputError
from physgen.sim.scenes import SCENES, TARGET_TASKS, get_scene


def test_registry_has_paper_tasks_and_probe():
    assert set(TARGET_TASKS) <= set(SCENES)
    assert any(spec.is_probe for spec in SCENES.values())


def test_short_names_resolve():
    assert get_scene("pickcube").env_id == "PickCube-v1"


def test_unknown_scene_lists_known_ones():
    with pytest.raises(InputError) as info:
        get_scene("OpenDoor-v1")
    assert all(name in str(info.value) for name in SCENES)


def test_corpus_excludes_target_tasks_and_has_eight_scenes():
    assert not set(CORPUS_SCENES) & set(TARGET_TASKS)
    assert len(CORPUS_SCENES) >= 8

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physgen.actions.language import ActionParseError, parse_actions
from physgen.actions.space import EFFECTIVE_METERS_PER_UNIT
from physgen.errors import InputError


def test_moves_fill_whole_chunks_with_the_right_displacement():
    program = parse_actions("right 5cm; up 3 cm; forward 20mm", chunk_len=8)
    net = [c.actions[:, :3].sum(0) * EFFECTIVE_METERS_PER_UNIT for c in program.commands]
    np.testing.assert_allclose(net, [[0, 0.05, 0], [0, 0, 0.03], [0.02, 0, 0]], atol=1e-6)
    assert all(c.num_steps % 8 == 0 for c in program.commands)


def test_gripper_state_carries_to_later_commands():
    program = parse_actions("close; left 2cm; open; wait")
    grips = [c.actions[-1, 6] for c in program.commands]
    assert grips == [-1, -1, 1, 1]


def test_repeat_and_raw_vector():
    program = parse_actions("[0 0 0.1 0 0 0 -1] x4\nwait 2")  # raw steps are taken as typed
    assert program.commands[0].num_steps == 4
    np.testing.assert_allclose(program.commands[0].actions[:, 2], 0.1)
    assert program.commands[1].num_steps == 16
    assert len(program.actions) == 20 and len(program.chunks()) == 3


def test_the_commands_after_a_raw_step_hold_its_gripper():
    program = parse_actions("[0 0 0.1 0 0 0 -1]; right 2cm; wait")
    assert (program.commands[1].actions[:, 6] == -1).all() and (program.commands[2].actions[:, 6] == -1).all()


def test_preview_rows_describe_each_command():
    rows = parse_actions("down 4cm x2").preview()
    assert rows == [["down 4cm x2", 16, 2.0, 0.0, 0.0, -8.0, "open"]]


@pytest.mark.parametrize(
    "text, token, column",
    [
        ("right 5cm; jump 3", "jump", 12),
        ("up", "(nothing)", 3),
        ("right 5 parsecs", "5 parsecs", 7),
        ("wait 2; [1 2 3]", "[1 2 3]", 9),
        ("right 5cm x0", "0", 12),
        ("[0 0 nan 0 0 0 1]", "[0 0 nan 0 0 0 1]", 1),
        ("close now", "now", 7),
    ],
)
def test_parse_errors_point_at_the_token(text, token, column):
    with pytest.raises(ActionParseError) as info:
        parse_actions(text)
    assert info.value.token == token
    assert f"column {column}" in str(info.value)
    assert "accepted commands" in str(info.value)


def test_error_on_second_line_reports_the_line():
    with pytest.raises(ActionParseError, match="line 2, column 1"):
        parse_actions("right 1cm\nfly 2cm")


def test_too_long_action_list_is_rejected():
    with pytest.raises(ActionParseError, match="too long"):
        parse_actions("wait 50; wait 50", max_steps=480)


def test_empty_text_is_rejected():
    with pytest.raises(ActionParseError, match="no commands"):
        parse_actions("  ;\n ")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("rightlefupdowncmx0123456789.[]-; \n,wacose")), max_size=40))
def test_fuzz_only_clear_errors(text):
    try:
        program = parse_actions(text)
    except InputError as exc:
        assert str(exc)
    else:
        assert program.actions.shape[1] == 7
        assert np.isfinite(program.actions).all() and np.abs(program.actions).max() <= 1


def test_move_travels_a_world_vector_in_whole_chunks():
    from physgen.actions.language import move_command

    program = parse_actions(move_command([0.031, -0.04, 0.0]))
    assert program.commands[0].text == "move 3.1 -4 0 cm" and len(program.actions) % 8 == 0
    np.testing.assert_allclose(program.actions[:, :3].sum(0) * EFFECTIVE_METERS_PER_UNIT, [0.031, -0.04, 0], atol=1e-6)


@pytest.mark.parametrize("text, message", [("move 3 4", "three numbers"), ("move 0 0 0", "non-zero"), ("move 70 0 0 cm", "at most 60 cm")])
def test_bad_moves_say_what_is_accepted(text, message):
    with pytest.raises(ActionParseError, match=message) as info:
        parse_actions(text)
    assert "column 6" in str(info.value)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.floats(-1, 1, allow_nan=False, width=32), min_size=7, max_size=7), min_size=1, max_size=30))
def test_actions_to_text_round_trips(steps):
    from physgen.actions.language import actions_to_text

    actions = np.asarray(steps, np.float32)
    np.testing.assert_allclose(parse_actions(actions_to_text(actions), max_steps=10_000).actions, actions, atol=1e-5)


def test_a_drive_press_is_the_typed_move_of_one_chunk():
    from physgen.actions.language import drive_chunk

    chunk = drive_chunk("left", -1.0, chunk_len=4)
    np.testing.assert_array_equal(chunk, parse_actions("close; left 3cm", chunk_len=4).commands[1].actions)
    assert chunk.shape == (4, 7) and (chunk[:, 6] == -1).all()
    np.testing.assert_array_equal(drive_chunk("stay", 1.0, chunk_len=4)[:, :6], 0)


def test_an_unknown_drive_direction_says_which_are_accepted():
    from physgen.actions.language import drive_chunk

    with pytest.raises(InputError, match="accepted: right, left"):
        drive_chunk("sideways", 1.0)

"""The studio's action language: typed commands parsed into pd_ee_delta_pose action chunks.

Commands are separated by ';' or newlines. Each may end with a repeat 'xN' (e.g. 'right 2cm x3').

    right|left|forward|back|up|down <distance>[cm|mm|m]   move the gripper (default unit cm)
    move <dx> <dy> <dz> [cm|mm|m]                         straight move by a world-frame vector
    close | open                                          close / open the gripper (one chunk)
    wait [N]                                              hold still for N chunks (default 1)
    [dx dy dz drx dry drz g]                              one raw control step, entries in [-1, 1];
                                                          the commands after it hold its gripper g

Directions are in the world frame as seen from the studio camera: right = +y, left = -y,
forward = +x (toward the camera), back = -x, up = +z. Moves and gripper changes fill whole chunks of
`chunk_len` control steps so that every command is a whole physical step for the world model.
Move commands are scaled for the measured tracking of delta control (physgen.actions.space.TRACKING), so a
typed distance is the distance the gripper actually travels, to about a centimetre.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from physgen.actions.space import ACTION_DIM, DEFAULT_CHUNK_LEN, EFFECTIVE_METERS_PER_UNIT, GRIPPER_CLOSED, GRIPPER_OPEN, validate_actions
from physgen.errors import InputError

DIRECTIONS = {
    "right": (0, 1, 0),
    "left": (0, -1, 0),
    "forward": (1, 0, 0),
    "back": (-1, 0, 0),
    "backward": (-1, 0, 0),
    "up": (0, 0, 1),
    "down": (0, 0, -1),
}
DRIVE_STEP_M = 0.03  # one drive key press (or pad button) moves the gripper this far, in one chunk
UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001}
MAX_STEP_UNITS = 0.8  # fastest typed move: 0.8 normalised, about 3 cm per control step
MAX_MOVE_M = 0.6
MAX_REPEAT = 50
DEFAULT_MAX_STEPS = 60 * DEFAULT_CHUNK_LEN  # 60 chunks of the default length

HELP = (
    "accepted commands: 'right|left|forward|back|up|down <distance>[cm|mm|m]', "
    "'move <dx> <dy> <dz> [cm|mm|m]' (x forward, y right, z up), 'close', 'open', "
    "'wait [N]', a raw step '[dx dy dz drx dry drz g]' (7 numbers in [-1, 1]); "
    "separate commands with ';' or new lines; repeat one with 'xN'"
)


class ActionParseError(InputError):
    """A typed action could not be parsed; `position` is the character offset of the bad token."""

    def __init__(self, message: str, text: str, position: int, token: str):
        self.text, self.position, self.token = text, position, token
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        super().__init__(f"line {line}, column {column}, at {token!r}: {message}. {HELP}")


@dataclass(frozen=True)
class ParsedCommand:
    text: str  # the command as typed
    position: int  # character offset in the input
    actions: np.ndarray  # (n, 7) float32

    @property
    def num_steps(self) -> int:
        return len(self.actions)


@dataclass(frozen=True)
class ParsedProgram:
    commands: list[ParsedCommand]
    chunk_len: int

    @property
    def actions(self) -> np.ndarray:
        if not self.commands:
            return np.zeros((0, ACTION_DIM), np.float32)
        return np.concatenate([c.actions for c in self.commands])  # (T, 7)

    def chunks(self) -> list[np.ndarray]:
        """The actions cut into chunks of chunk_len (the last may be shorter for raw steps)."""
        acts = self.actions
        return [acts[i : i + self.chunk_len] for i in range(0, len(acts), self.chunk_len)]

    def preview(self) -> list[list]:
        """Rows for a preview table: command, control steps, chunks, expected displacement (cm), gripper."""
        rows = []
        for c in self.commands:
            net = c.actions[:, :3].astype(np.float64).sum(axis=0) * EFFECTIVE_METERS_PER_UNIT * 100
            grip = "close" if c.actions[-1, 6] < 0 else "open"
            rows.append([c.text, c.num_steps, round(c.num_steps / self.chunk_len, 2), *(round(float(v), 1) + 0.0 for v in net), grip])
        return rows


PREVIEW_HEADERS = ["command", "steps", "chunks", "dx cm", "dy cm", "dz cm", "gripper"]

_COMMAND_RE = re.compile(r"[^;\n]+")
# A repeat is a trailing "xN" separated by a space (or right after a raw step's "]").
_REPEAT_RE = re.compile(r"^(?P<body>.*?)(?:\s+|(?<=\]))[x×*]\s*(?P<count>\S+)$", re.IGNORECASE)


def parse_actions(
    text: str,
    chunk_len: int = DEFAULT_CHUNK_LEN,
    gripper: float = GRIPPER_OPEN,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> ParsedProgram:
    """Parse `text`; raise ActionParseError pointing at the offending token."""
    if not isinstance(text, str):
        raise InputError(f"actions must be text; got {type(text).__name__}")
    commands: list[ParsedCommand] = []
    total = 0
    for match in _COMMAND_RE.finditer(text):
        raw = match.group(0)
        if not raw.strip():
            continue
        start = match.start() + (len(raw) - len(raw.lstrip()))
        body, repeat = _split_repeat(raw.strip(), text, start)
        actions, gripper = _parse_one(body, text, start, chunk_len, gripper)
        actions = np.tile(actions, (repeat, 1))
        total += len(actions)
        if total > max_steps:
            raise ActionParseError(
                f"the action list is too long: {total} control steps so far, at most {max_steps} "
                f"({max_steps // chunk_len} chunks of {chunk_len}) per run",
                text, start, raw.strip(),
            )
        commands.append(ParsedCommand(raw.strip(), start, actions))
    if not commands:
        raise ActionParseError("no commands", text, 0, text[:20])
    return ParsedProgram(commands, chunk_len)


def _split_repeat(command: str, text: str, start: int) -> tuple[str, int]:
    m = _REPEAT_RE.match(command)
    if not m or not m.group("body").strip():
        return command, 1
    count = m.group("count")
    if not count.isdigit() or not 1 <= int(count) <= MAX_REPEAT:
        pos = start + command.rfind(count)
        raise ActionParseError(f"a repeat must be 'xN' with N an integer from 1 to {MAX_REPEAT}", text, pos, count)
    return m.group("body").strip(), int(count)


def _parse_one(body: str, text: str, start: int, chunk_len: int, gripper: float) -> tuple[np.ndarray, float]:
    tokens = body.split()
    word = tokens[0].lower()
    if body.startswith("["):
        step = _parse_raw(body, text, start)
        return step, float(step[0, 6])
    if word in DIRECTIONS:
        distance = _parse_distance(body[len(tokens[0]) :], text, start + len(tokens[0]))
        return _straight_move(np.asarray(DIRECTIONS[word], np.float64) * distance, chunk_len, gripper), gripper
    if word == "move":
        delta = _parse_vector(body[len(tokens[0]) :], text, start + len(tokens[0]))
        return _straight_move(delta, chunk_len, gripper), gripper
    if word in ("close", "open", "grasp", "release"):
        if len(tokens) > 1:
            raise ActionParseError(f"'{word}' takes no argument", text, start + body.find(tokens[1]), tokens[1])
        gripper = GRIPPER_CLOSED if word in ("close", "grasp") else GRIPPER_OPEN
        actions = np.zeros((chunk_len, ACTION_DIM), np.float32)
        actions[:, 6] = gripper
        return actions, gripper
    if word in ("wait", "hold", "stay"):
        n = 1
        if len(tokens) > 2:
            raise ActionParseError("'wait' takes at most one number", text, start + body.find(tokens[2]), tokens[2])
        if len(tokens) == 2:
            if not tokens[1].isdigit() or not 1 <= int(tokens[1]) <= MAX_REPEAT:
                raise ActionParseError(f"'wait N' needs an integer N from 1 to {MAX_REPEAT}", text, start + body.find(tokens[1]), tokens[1])
            n = int(tokens[1])
        actions = np.zeros((n * chunk_len, ACTION_DIM), np.float32)
        actions[:, 6] = gripper
        return actions, gripper
    raise ActionParseError("unknown command", text, start, tokens[0])


def _straight_move(delta_m: np.ndarray, chunk_len: int, gripper: float) -> np.ndarray:
    """Whole chunks moving the gripper by delta_m (world frame, metres) at most MAX_STEP_UNITS per step."""
    steps_needed = max(1, math.ceil(np.abs(delta_m).max() / EFFECTIVE_METERS_PER_UNIT / MAX_STEP_UNITS))
    n = math.ceil(steps_needed / chunk_len) * chunk_len
    actions = np.zeros((n, ACTION_DIM), np.float32)
    actions[:, :3] = delta_m / n / EFFECTIVE_METERS_PER_UNIT
    actions[:, 6] = gripper
    return actions


def drive_chunk(direction: str, gripper: float, chunk_len: int = DEFAULT_CHUNK_LEN, distance_m: float = DRIVE_STEP_M) -> np.ndarray:
    """The chunk of one drive key press: `direction` (a DIRECTIONS name, or "stay") by distance_m,
    the gripper command held; the same actions as typing "<direction> 3cm"."""
    if direction != "stay" and direction not in DIRECTIONS:
        raise InputError(f"unknown drive direction {direction!r}; accepted: {', '.join([*DIRECTIONS, 'stay'])}")
    if not 0 < distance_m <= MAX_MOVE_M:
        raise InputError(f"a drive distance must lie in (0, {MAX_MOVE_M}] m; got {distance_m}")
    if direction == "stay":
        actions = np.zeros((chunk_len, ACTION_DIM), np.float32)
        actions[:, 6] = gripper
        return actions
    return _straight_move(np.asarray(DIRECTIONS[direction], np.float64) * distance_m, chunk_len, gripper)


def _parse_vector(rest: str, text: str, offset: int) -> np.ndarray:
    number = r"([-+]?\d*\.?\d+)"
    m = re.fullmatch(rf"\s*{number}\s+{number}\s+{number}\s*(cm|mm|m)?\s*", rest, re.IGNORECASE)
    if not m:
        token = rest.strip() or "(nothing)"
        pos = offset + (rest.find(rest.strip()) if rest.strip() else 0)
        raise ActionParseError("'move' needs three numbers and an optional unit, such as 'move 3 -2 0 cm'", text, pos, token)
    delta = np.array([float(m.group(i)) for i in (1, 2, 3)]) * UNITS[(m.group(4) or "cm").lower()]
    if not 0 < np.abs(delta).max() <= MAX_MOVE_M:
        raise ActionParseError(
            f"each 'move' component must be at most {MAX_MOVE_M * 100:.0f} cm and one must be non-zero",
            text, offset + rest.find(m.group(1)), rest.strip(),
        )
    return delta


def move_command(delta_m) -> str:
    """The 'move' command (in cm, 1 mm resolution) that travels delta_m (3,) metres."""
    dx, dy, dz = (float(np.round(v * 100, 1)) + 0.0 for v in delta_m)  # + 0.0 turns -0.0 into 0.0
    return f"move {dx:g} {dy:g} {dz:g} cm"


def actions_to_text(actions) -> str:
    """Raw-step commands that parse back to `actions` (to 6 significant digits); runs of equal
    steps are folded into repeats."""
    acts = validate_actions(actions)
    lines: list[str] = []
    i = 0
    while i < len(acts):
        j = i + 1
        while j < len(acts) and j - i < MAX_REPEAT and np.array_equal(acts[j], acts[i]):
            j += 1
        step = "[" + " ".join(f"{float(v):.6g}" for v in acts[i]) + "]"
        lines.append(step if j - i == 1 else f"{step} x{j - i}")
        i = j
    return "\n".join(lines)


def _parse_distance(rest: str, text: str, offset: int) -> float:
    m = re.fullmatch(r"\s*([-+]?\d*\.?\d+)\s*(cm|mm|m)?\s*", rest, re.IGNORECASE)
    if not m:
        token = rest.strip() or "(nothing)"
        pos = offset + (rest.find(rest.strip()) if rest.strip() else 0)
        raise ActionParseError("a move needs a distance such as '5cm', '30 mm' or '0.1 m'", text, pos, token)
    value = float(m.group(1)) * UNITS[(m.group(2) or "cm").lower()]
    if not 0 < value <= MAX_MOVE_M:
        pos = offset + rest.find(m.group(1))
        raise ActionParseError(f"a move distance must be in (0, {MAX_MOVE_M * 100:.0f} cm]", text, pos, m.group(1))
    return value


def _parse_raw(body: str, text: str, start: int) -> np.ndarray:
    if not body.rstrip().endswith("]"):
        raise ActionParseError("a raw step must be closed with ']'", text, start, body)
    inner = body.strip()[1:-1].replace(",", " ").split()
    values = []
    for token in inner:
        try:
            values.append(float(token))
        except ValueError:
            raise ActionParseError("not a number", text, start + body.find(token), token) from None
    if len(values) != ACTION_DIM:
        raise ActionParseError(f"a raw step needs 7 numbers [dx dy dz drx dry drz g], got {len(values)}", text, start, body)
    try:
        return validate_actions(values)
    except InputError as exc:
        raise ActionParseError(str(exc), text, start, body) from None

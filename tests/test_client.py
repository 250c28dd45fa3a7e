"""End to end through gradio_client: the stable API names a script or another Space would call."""

import json
import socket

import pytest

pytestmark = [pytest.mark.sim, pytest.mark.slow]


@pytest.fixture(scope="module")
def client():
    from gradio_client import Client

    from app.layout import build_app, launch

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build_app()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, ssr_mode=False, quiet=True)
    yield Client(f"http://127.0.0.1:{port}", verbose=False)
    demo.close()


def test_load_parse_run_five_chunks_and_export(client):
    *_, status, _, _, _, seed = client.predict("PushCube-v1", 1, False, api_name="/load_scene")
    assert "Loaded" in status and seed == 1
    preview, message = client.predict("right 2cm x5", api_name="/parse_actions")
    assert "40 control steps" in message and preview["data"][0][0] == "right 2cm x5"
    sim_image, predicted, branch, status, divergence, trajectory, scrubber = client.predict("right 2cm x5", api_name="/run")
    assert "Executed 40 control steps" in status and "PSNR" in status
    assert json.loads(divergence["plot"])["data"][0]["x"] == [1, 2, 3, 4, 5]
    video, actions, branch_files, status = client.predict(api_name="/export")
    assert video.endswith(".mp4") and "6 frames" in status
    with open(actions) as f:
        record = json.load(f)
    assert record["scene"] == "PushCube-v1" and len(record["actions"]) == 40 and record["texts"] == ["right 2cm x5"]


def test_drive_fork_and_stroke_endpoints(client):
    client.predict("PushCube-v1", 3, False, api_name="/load_scene")
    *_, status, _, _, scrubber, latency = client.predict("d", api_name="/drive")
    assert "Drive: `right 3cm` → chunk 1" in status and "model" in latency and "total" in latency
    client.predict("q", api_name="/drive")
    *_, status, divergence, _, _ = client.predict(1, api_name="/fork")
    assert "Forked at chunk 1" in status
    *_, branch, status, divergence, _, _, latency = client.predict("a", api_name="/drive")
    assert branch is not None and "PSNR (dB) A" in divergence["plot"]
    _, _, branch_files, status = client.predict(api_name="/export")
    assert "Both branches" in status and len(branch_files) == 2
    _, text, status = client.predict("", 8, "[[200, 300], [260, 300], [320, 310]]", api_name="/stroke")
    assert text.startswith("move ") and "Stroke:" in status


@pytest.mark.parametrize("api_name, args, words", [
    ("/fork", (99,), "no chunk 99"),
    ("/stroke", ("", 8, "[]"), "no points"),
    ("/stroke", ("", 8, "not json"), "must be JSON"),
    ("/drive", ("x",), "unknown drive key"),
])
def test_bad_input_to_the_new_endpoints_is_a_message(client, api_name, args, words):
    client.predict("PushCube-v1", 3, False, api_name="/load_scene")
    outputs = client.predict(*args, api_name=api_name)
    status = next(o for o in outputs if isinstance(o, str) and o.startswith("⚠️"))
    assert words in status


def test_policy_endpoint_acts(client):
    client.predict("PickCube-v1", 2, False, api_name="/load_scene")
    *_, status, _, _, _ = client.predict(2, api_name="/act")
    assert "acted for 2 chunk(s)" in status


def test_bad_input_through_the_api_is_a_message_not_an_error(client):
    *_, status, _, _, _, _ = client.predict("Teleport-v9", 1, False, api_name="/load_scene")
    assert status.startswith("⚠️") and "unknown scene" in status


@pytest.mark.parametrize("path", ["README.md", "app.py", "checkpoints/physgen-small/config.json", "/etc/passwd"])
def test_files_outside_the_app_cache_are_not_served(client, path):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{client.src.rstrip('/')}/gradio_api/file={path}", timeout=10)
    assert info.value.code in (403, 404)

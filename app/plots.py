"""Plotly figures for the page: divergence per chunk, the gripper's 3-D path, object presence."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

LAYOUT = dict(margin=dict(l=40, r=20, t=40, b=40), height=320, template="plotly_white", legend=dict(orientation="h", y=-0.3))


def divergence_figure(divergence: list[dict], other: list[dict] | None = None, fork_chunk: int | None = None) -> go.Figure:
    """PSNR and SSIM of PhysGen's frame against the simulator's, per chunk; after a fork, branch A
    (`other`) dashed next to branch B, and a line at the fork."""
    fig = go.Figure()
    branches = [("", divergence, "solid")] if other is None else [(" A", other, "dash"), (" B", divergence, "solid")]
    for suffix, rows, dash in branches:
        chunks = [d["chunk"] for d in rows]
        fig.add_scatter(x=chunks, y=[d["psnr"] for d in rows], mode="lines+markers", name=f"PSNR (dB){suffix}", line=dict(dash=dash))
        fig.add_scatter(x=chunks, y=[d["ssim"] for d in rows], mode="lines+markers", name=f"SSIM{suffix}", yaxis="y2", line=dict(dash=dash))
    if fork_chunk is not None:
        fig.add_vline(x=fork_chunk, line_dash="dot", line_color="grey", annotation_text="fork")
    fig.update_layout(
        title="Prediction vs simulator (higher = closer)",
        xaxis=dict(title="chunk", rangemode="tozero"),
        yaxis=dict(title="PSNR (dB)", range=[0, 40]),
        yaxis2=dict(title="SSIM", overlaying="y", side="right", range=[0, 1]),
        **LAYOUT,
    )
    return fig


def trajectory_figure(commanded: list[np.ndarray], executed: list[np.ndarray], targets: list[np.ndarray] = ()) -> go.Figure:
    """The gripper's 3-D path: what the commands ask for against what the simulator executed."""
    fig = go.Figure()
    for name, points, dash in (("commanded", commanded, "dash"), ("executed (simulator)", executed, "solid")):
        if len(points):
            p = np.asarray(points)  # (T, 3)
            fig.add_scatter3d(x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="lines", name=name, line=dict(width=5, dash=dash))
    if len(targets):
        t = np.asarray(targets)
        fig.add_scatter3d(x=t[:, 0], y=t[:, 1], z=t[:, 2], mode="markers", name="clicked targets", marker=dict(size=4, symbol="x"))
    fig.update_layout(
        title="Gripper path (m)",
        scene=dict(
            xaxis_title="x (forward)", yaxis_title="y (right)", zaxis_title="z (up)", aspectmode="cube",
            # Looking from behind the robot's right shoulder, roughly as the studio camera does.
            camera=dict(eye=dict(x=1.2, y=-1.2, z=0.8)),
        ),
        **{**LAYOUT, "margin": dict(l=0, r=0, t=40, b=0)},
    )
    return fig


def presence_figure(curves: dict[str, np.ndarray], hidden: np.ndarray, references=()) -> go.Figure:
    """Object presence per chunk for each curve; chunks where the cube is fully hidden are shaded.
    Curves named in `references` (truth, ceiling) are dotted, so a model curve on top of one shows."""
    fig = go.Figure()
    for name, values in curves.items():
        line = dict(dash="dot", width=1.5) if name in references else dict(width=2.5)
        fig.add_scatter(x=np.arange(len(values)), y=values, mode="lines+markers", name=name, line=line)
    for i in hidden:
        fig.add_vrect(x0=i - 0.5, x1=i + 0.5, fillcolor="grey", opacity=0.15, line_width=0)
    fig.update_layout(
        title="Cube presence (1 = as in the first frame; grey: hidden behind the wall)",
        xaxis_title="chunk", yaxis=dict(title="presence", rangemode="tozero"), **LAYOUT,
    )
    return fig

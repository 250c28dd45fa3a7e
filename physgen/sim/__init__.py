"""The simulator layer and the only ManiSkill importer: scenes, the probe scene, scripted experts,
the studio camera and the `Simulator` env. ManiSkill itself is imported where it is used, so
importing this package stays cheap.
"""

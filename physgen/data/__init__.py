"""Recorded data: expert demos, play episodes, the action-free video corpus, training windows,
the token cache and packs, and episode files (actions JSON, side-by-side mp4).
"""

"""The action space (pd_ee_delta_pose chunks), the typed action language and the preset moves.

Imported by every layer; imports none of them (only physgen.errors).
"""

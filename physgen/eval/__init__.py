"""Evaluation: image metrics, open-loop rollouts against the simulator, and the permanence probe.
The benchmark entry point that combines them is `python -m physgen.bench`.
"""

"""The world model: the causal transformer, the diffusion heads, the PhysGen model, rollouts with a
KV cache, the frame tokenizer, checkpoints, and PhysGen as an env and as a policy.

It never imports the simulator or the data layers, so it runs where ManiSkill and the data are
absent (a lent GPU, a Space).
"""

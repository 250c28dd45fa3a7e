"""Training: the world model (stage 1 video, stage 2 actions) and the frame tokenizer."""

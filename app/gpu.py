"""`@gpu` marks the functions that run the model: spaces.GPU on Hugging Face ZeroGPU hardware, and
a no-op elsewhere (spaces.GPU itself does nothing on CPU; this also runs without the package)."""

try:
    import spaces

    gpu = spaces.GPU
except ImportError:  # pragma: no cover - spaces is in requirements.txt

    def gpu(fn):
        return fn

import os

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def sim():
    """One simulator shared by the sim tests: creating a ManiSkill env costs seconds."""
    from physgen.sim import Simulator

    simulator = Simulator()
    yield simulator
    simulator.close()


@pytest.fixture
def rng():
    return np.random.default_rng(0)

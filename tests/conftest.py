"""Shared fixtures of the test suite."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same random state."""
    torch.manual_seed(0)


@pytest.fixture
def one_thread():
    """Run a test on one intra-op thread, then restore the setting.

    The model tests run many small ops; with several processes sharing 2 cores, OpenMP threads
    spin-waiting on each other made them 10-40x slower, while one thread loses nothing here.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

"""Test setup: 8 fake CPU devices (set before jax is imported) and quiet TensorFlow logs."""
import os

os.environ["XLA_FLAGS"] = " ".join(
    [f for f in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in f]
    + ["--xla_force_host_platform_device_count=8"])
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pathlib  # noqa: E402

import pytest  # noqa: E402

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _quiet_tensorflow():
  try:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
  except ImportError:
    return
  tf.get_logger().setLevel("ERROR")
  tf.config.set_visible_devices([], "GPU")


@pytest.fixture(scope="session")
def shared_data():
  """Path of ../shared/data; skips the test when it is absent (it is always present in CI)."""
  if not SHARED_DATA.is_dir():
    pytest.skip(f"shared data folder {SHARED_DATA} is absent")
  return SHARED_DATA


def pytest_configure(config):
  config.addinivalue_line("markers", "slow: slower tests (CI still runs them)")

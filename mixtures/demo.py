"""The "flan_demo" mixture of generated tasks and its held-out evaluation tasks (see flan.data.demo)."""
from flan.data import demo

MIXTURE = demo.MIXTURE
HELDOUT_TASKS = demo.HELDOUT_TASKS

"""Transparent huge pages for the host's large buffers (Linux with glibc).

XLA:CPU allocates a step's large temporaries afresh on every execution, so each step first-touches its
[tokens, vocab] logits and gradients on fresh 4 KiB pages, one page fault each: 53,262 faults per tiny T5
train step and 391,876 per small one (`FLAN_HUGE_PAGES=0 bench/train_throughput.py` prints them). glibc's
tunable `glibc.malloc.hugetlb=1` (glibc 2.35 and later) makes malloc ask for transparent huge pages, 2 MiB
each: 618 and 1,724 faults per step.

glibc reads its tunables when a process starts, so the commands that compute (flan-train, flan-infer,
flan-eval, python -m flan.demo) restart themselves once, at the start, with the tunable added to
GLIBC_TUNABLES. Set FLAN_HUGE_PAGES=0 to keep the environment as it is. Nothing is changed when the kernel
has transparent huge pages disabled, off Linux or glibc, or when the tunable is already set.

  python -m flan.host_memory     # prints whether this process has the tunable and the kernel's setting
"""
import os
import platform
import sys
from typing import Optional

TUNABLE = "glibc.malloc.hugetlb=1"
KERNEL_SETTING = "/sys/kernel/mm/transparent_hugepage/enabled"
OPT_OUT = "FLAN_HUGE_PAGES"


def kernel_mode() -> Optional[str]:
  """The kernel's transparent huge page mode (always, madvise, never), or None when it has none."""
  try:
    with open(KERNEL_SETTING, encoding="ascii") as f:
      text = f.read()
  except OSError:
    return None
  start, end = text.find("["), text.find("]")
  return text[start + 1:end] if 0 <= start < end else None


def environment(env=None) -> Optional[dict]:
  """A copy of `env` (default os.environ) with the tunable added, or None when nothing should change."""
  env = dict(os.environ if env is None else env)
  if env.get(OPT_OUT, "1") == "0":
    return None
  if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
    return None
  tunables = env.get("GLIBC_TUNABLES", "")
  if "glibc.malloc.hugetlb" in tunables or kernel_mode() in (None, "never"):
    return None
  env["GLIBC_TUNABLES"] = f"{tunables}:{TUNABLE}" if tunables else TUNABLE
  return env


def restart_with_huge_pages(module: str, argv) -> None:
  """Replaces this process by `python -m module argv...` with the tunable set; returns when not needed.
  Call it first thing in a command's main, only when the command runs as its own process."""
  env = environment()
  if env is None:
    return
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, [sys.executable, "-m", module, *argv], env)


if __name__ == "__main__":
  active = TUNABLE in os.environ.get("GLIBC_TUNABLES", "").split(":")
  print(f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '')!r} (huge pages for malloc: "
        f"{'on' if active else 'off'}); kernel transparent huge pages: {kernel_mode()}")

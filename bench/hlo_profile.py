"""What the profiler benchmarks read: the ops of a compiled XLA program (from its HLO text) and the time each
op took in a jax.profiler trace."""
import collections
import glob
import gzip
import json
import math
import os
import re

_INSTRUCTION = re.compile(r'^\s*(?:ROOT )?%([\w.-]+) = (.*?) ([\w-]+)\((.*)$', re.MULTILINE)
_ARRAY_SHAPE = re.compile(r'^\w+\[([\d,]*)\]')
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_FIRST_OPERAND = re.compile(r'%([\w.-]+)')
_CONTRACTING = re.compile(r'lhs_contracting_dims=\{([\d,]*)\}')


def _dims(text):
  return [int(d) for d in text.split(",") if d]


def hlo_ops(hlo_text):
  """{op name: (opcode, the jax op_name it came from or "", FLOPs if a dot else 0)} of every instruction."""
  instructions = _INSTRUCTION.findall(hlo_text)
  shapes = {}
  for name, shape, _, _ in instructions:
    array = _ARRAY_SHAPE.match(shape)
    if array:
      shapes[name] = _dims(array.group(1))
  ops = {}
  for name, _, opcode, rest in instructions:
    source = _OP_NAME.search(rest)
    flops = 0
    if opcode == "dot":
      lhs = shapes[_FIRST_OPERAND.search(rest).group(1)]
      contracted = math.prod(lhs[i] for i in _dims(_CONTRACTING.search(rest).group(1)))
      flops = 2 * math.prod(shapes[name]) * contracted
    ops[name] = (opcode, source.group(1) if source else "", flops)
  return ops


def op_times(trace_dir):
  """{op name: (total microseconds, times run)} from the Perfetto trace jax.profiler wrote under trace_dir."""
  trace_file = glob.glob(os.path.join(trace_dir, "**", "*perfetto_trace.json.gz"), recursive=True)[0]
  with gzip.open(trace_file) as f:
    events = json.load(f)
  events = events["traceEvents"] if isinstance(events, dict) else events
  total, count = collections.Counter(), collections.Counter()
  for event in events:
    if event.get("ph") == "X" and not event["name"].startswith(("$", "Thunk", "end: ")):
      total[event["name"]] += event.get("dur", 0)
      count[event["name"]] += 1
  return {name: (total[name], count[name]) for name in total}

"""What a compiled program communicates: the collectives in its HLO text.

`collectives(compiled.as_text())` lists every cross-device operation of an
optimised XLA program (all-reduce, all-gather, reduce-scatter, all-to-all,
collective-permute) with the bytes of the array it produces. That is how the
tests check that node-sharded EALA all-reduces its key statistics and never
all-gathers the keys, and how experiments/bench_scale.py counts the bytes a
step communicates.

Bytes are those of the op's result, summed over a tuple result: for an
all-reduce, the reduced arrays (each device sends and receives about twice
that in a ring); for an all-gather, the gathered array (each device receives
`(n - 1) / n` of it).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable

COLLECTIVE_OPS: tuple[str, ...] = (
    "all-reduce", "all-gather", "reduce-scatter", "all-to-all", "collective-permute",
)
_BYTES = {
    "pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2, "s32": 4, "u32": 4,
    "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8, "c128": 16,
}
# `%name = <result shape or tuple> <op>(` ; async pairs are counted at -start.
_INSTRUCTION = re.compile(
    r"=\s*(?P<shape>\(.*?\)|\S+)\s+(?P<op>" + "|".join(COLLECTIVE_OPS) + r")(?P<start>-start)?\("
)
_ARRAY = re.compile(r"\b(" + "|".join(_BYTES) + r")\[([\d,]*)\]")


@dataclasses.dataclass(frozen=True)
class Collective:
  """One collective of a compiled program.

  Attributes:
    op: ``"all-reduce"``, ``"all-gather"``, ...
    shapes: `(dtype, dims)` of each array it produces.
    bytes: their total size.
  """

  op: str
  shapes: tuple[tuple[str, tuple[int, ...]], ...]
  bytes: int


def collectives(hlo_text: str) -> list[Collective]:
  """The collectives of an optimised HLO module (`jax.jit(f).lower(...).compile().as_text()`)."""
  found = []
  for line in hlo_text.splitlines():
    match = _INSTRUCTION.search(line)
    if match is None:
      continue
    arrays = [(dtype, tuple(int(d) for d in dims.split(",") if d))
              for dtype, dims in _ARRAY.findall(match["shape"])]
    if match["start"] and match["op"] != "all-reduce" and len(arrays) > 1:
      arrays = arrays[len(arrays) // 2:]  # (operands, results) of an async start.
    size = sum(_BYTES[dtype] * math.prod(dims) for dtype, dims in arrays)
    found.append(Collective(match["op"], tuple(arrays), size))
  return found


def bytes_by_op(found: Iterable[Collective]) -> dict[str, int]:
  """Total bytes per collective kind (kinds that do not occur are left out)."""
  totals: dict[str, int] = {}
  for collective in found:
    totals[collective.op] = totals.get(collective.op, 0) + collective.bytes
  return totals

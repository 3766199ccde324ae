"""Command-line interface: `python -m entropy_attention_jax SUBCOMMAND ...`.

Each subcommand group lives in its own module of this package and exposes
`register(subparsers)`, which adds its parsers and sets `func` on them. Heavy
imports (JAX models, TFDS) happen inside the command functions, so `--help`
stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from entropy_attention_jax._optional import MissingDependencyError

# Modules providing `register(subparsers)`, in the order their commands are listed.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "entropy_attention_jax.cli.data",
    "entropy_attention_jax.cli.train",
)


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="python -m entropy_attention_jax",
      description="Entropy-equality linear attention: data, training, evaluation.",
  )
  subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
  for name in SUBCOMMAND_MODULES:
    importlib.import_module(name).register(subparsers)
  return parser


def main(argv: list[str] | None = None) -> int:
  parser = build_parser()
  args = parser.parse_args(argv)
  try:
    return int(args.func(args) or 0)
  except MissingDependencyError as error:  # An extra (`train`, `data`) is not installed.
    print(f"error: {error}", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
  sys.exit(main())

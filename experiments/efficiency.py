"""Time and memory versus sequence length and versus number of nodes, as log-log plots.

Runs the two benchmarks — `bench_attention.py` (every attention kind, L = 256
… 65,536) and `bench_elinformer.py` (one ELinFormer training step, EALA vs
softmax, N = 170 … 8,600 nodes) — or, with `--reuse`, reads the records they
left (its own `--out`, else the benchmarks' default `results/bench_attention/`
and `results/bench_elinformer/`), and draws time and peak memory on log axes.
Programs that do not fit in memory are drawn hollow at the memory XLA says
they need.

  python experiments/efficiency.py            # full benchmarks (tens of minutes)
  python experiments/efficiency.py --quick    # small sizes
  python experiments/efficiency.py --reuse    # plot the last benchmark results
"""

from __future__ import annotations

import argparse
import json
import pathlib

import bench_attention
import bench_elinformer

GIB = 2**30


def records(bench, name: str, out: pathlib.Path, argv: list[str], reuse: bool,
            default_out: str) -> list[dict]:
  if reuse:
    for path in (out / f"{name}.json", pathlib.Path(default_out) / f"{name}.json"):
      if path.exists():
        print(f"reusing {path}")
        return json.loads(path.read_text())
  bench.main(argv + ["--out", str(out)])
  return json.loads((out / f"{name}.json").read_text())


def plot(attention_records, step_records, path: pathlib.Path) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  fig, axes = plt.subplots(2, 2, figsize=(11, 8))
  kinds = [k for k in dict.fromkeys(r["kind"] for r in attention_records) if "causal" not in k]
  for kind in kinds:
    rows = [r for r in attention_records if r["kind"] == kind]
    lengths = [r["length"] for r in rows]
    ran = [(r["length"], r["fwd_seconds"]) for r in rows if r["fwd_seconds"] is not None]
    line, = axes[0, 0].loglog(*zip(*ran), marker="o", label=kind)
    axes[0, 1].loglog(lengths, [r["fwd_peak_bytes"] / GIB for r in rows], marker="o",
                      color=line.get_color(), label=kind, markerfacecolor="none")
    fitted = [(r["length"], r["fwd_peak_bytes"] / GIB) for r in rows if r["fwd_seconds"] is not None]
    axes[0, 1].loglog(*zip(*fitted), "o", color=line.get_color())
  axes[0, 0].set(xlabel="sequence length L", ylabel="forward time (s)",
                 title="attention forward, batch 1, 4 heads, d = 32")
  axes[0, 1].set(xlabel="sequence length L", ylabel="forward peak memory (GiB)",
                 title="hollow only: not run, at the memory it would need")
  for kind in ("eala", "softmax"):
    rows = [r for r in step_records if r["kind"] == kind]
    # The benchmark's batch shrinks as N grows (16 at 170 nodes, 1 at 2,000), so per sample.
    ran = [(r["nodes"], r["seconds"] / r["batch"]) for r in rows if r["seconds"] is not None]
    if ran:
      line, = axes[1, 0].loglog(*zip(*ran), marker="o", label=kind)
      color = line.get_color()
    else:
      color = None
    axes[1, 1].loglog([r["nodes"] for r in rows], [r["peak_bytes"] / GIB / r["batch"] for r in rows],
                      marker="o", markerfacecolor="none", color=color, label=kind)
    fitting = [(r["nodes"], r["peak_bytes"] / GIB / r["batch"]) for r in rows if r["fits"]]
    if fitting:
      axes[1, 1].loglog(*zip(*fitting), "o", color=color)
  axes[1, 0].set(xlabel="nodes N (spatial attention length)", ylabel="step time per sample (s)",
                 title="ELinFormer training step (12 → 12 steps)")
  axes[1, 1].set(xlabel="nodes N", ylabel="step peak memory per sample (GiB)",
                 title="hollow only: does not fit in 24 GiB")
  for ax in axes.ravel():
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true")
  parser.add_argument("--reuse", action="store_true", help="plot existing benchmark records")
  parser.add_argument("--out", default="results/efficiency")
  args = parser.parse_args(argv)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  quick = ["--quick"] if args.quick else []
  attention_records = records(bench_attention, "bench_attention", out / "attention",
                              quick + ["--no-causal"], args.reuse, "results/bench_attention")
  step_records = records(bench_elinformer, "training_step", out / "elinformer", quick, args.reuse,
                         "results/bench_elinformer")
  plot(attention_records, step_records, out / "efficiency.png")
  print(f"\nwrote {out}/efficiency.png")


if __name__ == "__main__":
  main()

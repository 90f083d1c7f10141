"""Inference folding: archdsl.fuse(model) against torchvision's eval forward, side by side.

archdsl.fuse folds every batch norm into the convolution before it, which torchvision does not
do. Same weights (torchvision's, with batch-norm statistics made non-trivial by a few training
batches), same input (CPU, batch 8 at 224x224), both under torch.no_grad, alternating A B A B;
prints the median of the per-round ratios fused / torchvision (below 1: the fused model is
faster) and the largest output difference.

    .venv/bin/python bench/fuse.py [--models resnet34,googlenet] [--rounds 15] [--threads 1] [--cpu-time]
"""

from __future__ import annotations

import argparse

import torch
from pairs import add_clock_options, clock_of, machine, pair

import archdsl
from archdsl.timing import Clock, Comparison, alternate


def compare(reference: torch.nn.Module, fused: torch.nn.Module, x: torch.Tensor, rounds: int,
            clock: Clock) -> Comparison:
    with torch.no_grad():
        return alternate(lambda: reference(x), lambda: fused(x), rounds, warmup=2, clock=clock)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet34,googlenet")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=15)
    add_clock_options(parser)
    args = parser.parse_args()
    clock = clock_of(args)
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, 224, 224)
    print(f"# {machine(clock)}; batch {args.batch} at 224x224, {args.rounds} alternating rounds, eval under no_grad")
    for name in args.models.split(","):
        reference, ours = pair(name)
        reference.train()
        with torch.no_grad():  # batch-norm statistics that are not the initial 0 and 1
            for _ in range(2):
                reference(torch.randn(4, 3, 224, 224))
        reference.eval()
        ours.load_state_dict(reference.state_dict(), strict=True)
        fused = archdsl.fuse(ours)
        with torch.no_grad():
            error = (fused(x) - reference(x)).abs().max().item()
        c = compare(reference, fused, x, args.rounds, clock)
        low, high = c.spread
        print(f"{name:<10} torchvision {c.median_a * 1000:8.1f} ms  archdsl.fuse {c.median_b * 1000:8.1f} ms  "
              f"ratio {c.ratio:.3f} (rounds {low:.3f}..{high:.3f}; fastest/fastest {c.best_ratio:.3f}), "
              f"{1 / c.ratio - 1:+.1%} throughput; "
              f"max |difference| {error:.1e}", flush=True)


if __name__ == "__main__":
    main()

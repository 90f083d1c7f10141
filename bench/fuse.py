"""Inference folding: archdsl.fuse(model) against torchvision's eval forward, side by side.

archdsl.fuse folds every batch norm into the convolution before it, which torchvision does not
do. Same weights (torchvision's, with batch-norm statistics made non-trivial by a few training
batches), same input (CPU, batch 8 at 224x224), both under torch.no_grad, alternating A B A B;
prints the median of the per-round ratios fused / torchvision (below 1: the fused model is
faster) and the largest output difference.

With --channels-last the fused model is built from archdsl.load(..., channels_last=True) (torchvision's
stays as it is): the fastest inference archdsl offers on CPU.

    .venv/bin/python bench/fuse.py [--models resnet34,googlenet] [--rounds 15] [--threads 1] [--cpu-time]
                                   [--channels-last]
"""

from __future__ import annotations

import torch
from pairs import batch, names, options, pair, reference_label, setup, synced

import archdsl
from archdsl.pytorch.timing import Clock, Comparison, alternate


def compare(reference: torch.nn.Module, fused: torch.nn.Module, x: torch.Tensor, rounds: int,
            clock: Clock) -> Comparison:
    with torch.no_grad():
        return alternate(synced(lambda: reference(x), x), synced(lambda: fused(x), x), rounds, warmup=2, clock=clock)


def main() -> None:
    parser = options(__doc__, "resnet34,googlenet", rounds=15)
    parser.add_argument("--channels-last", action="store_true", help="archdsl's model in channels_last")
    args = parser.parse_args()
    clock, header = setup(args)
    print(header + ", eval under no_grad" + ("; archdsl in channels_last" if args.channels_last else ""))
    for name in names(args):
        x = batch(name, args)
        reference, ours = pair(name, x.device, args.size, channels_last=args.channels_last)
        reference.train()
        with torch.no_grad():  # batch-norm statistics that are not the initial 0 and 1
            for _ in range(2):
                reference(torch.randn(4, *x.shape[1:], device=x.device))
        reference.eval()
        ours.load_state_dict(reference.state_dict(), strict=True)
        fused = archdsl.fuse(ours)
        with torch.no_grad():
            error = (fused(x) - reference(x)).abs().max().item()
        c = compare(reference, fused, x, args.rounds, clock)
        low, high = c.spread
        print(f"{name:<18} {reference_label(name)} {c.median_a * 1000:8.1f} ms  "
              f"archdsl.fuse {c.median_b * 1000:8.1f} ms  "
              f"ratio {c.ratio:.3f} (rounds {low:.3f}..{high:.3f}; fastest/fastest {c.best_ratio:.3f}), "
              f"{1 / c.ratio - 1:+.1%} throughput; "
              f"max |difference| {error:.1e}", flush=True)


if __name__ == "__main__":
    main()

"""Runtime: archdsl's compiled models against torchvision's hand-written ones, side by side.

Same weights, same input (CPU, batch 8 at the .arch file's input size by default; U-Net, against the
plain-PyTorch U-Net of the tests, at 252x252). For each model: the eval forward
(under torch.no_grad) and one training step (forward, backward, SGD step), timed alternately
A B A B ... and reported as the median of the per-round ratios archdsl / torchvision, with the
smallest and largest ratio to show the noise. Goal: every ratio at most 1.02. On a machine shared
with other work, --cpu-time (one thread, CPU time of this process) is steadier than the wall clock.

    .venv/bin/python bench/runtime.py [--models resnet34,googlenet] [--families] [--rounds 9] [--batch 8] [--no-train]
                                      [--threads 1] [--cpu-time] [--channels-last]
"""

from __future__ import annotations

import torch
from pairs import MODELS, batch, names, options, pair, reference_label, setup, synced

from archdsl.pytorch.bench import train_step
from archdsl.pytorch.timing import Clock, Comparison, alternate


def compare_eval(reference, ours, x, rounds: int, clock: Clock) -> Comparison:
    reference.eval()
    ours.eval()
    with torch.no_grad():
        return alternate(synced(lambda: reference(x), x), synced(lambda: ours(x), x), rounds, warmup=2, clock=clock)


def compare_train(reference, ours, x, rounds: int, clock: Clock) -> Comparison:
    reference.train()
    ours.train()
    sgd = {id(m): torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for m in (reference, ours)}
    return alternate(synced(lambda: train_step(reference, sgd[id(reference)], x), x),
                     synced(lambda: train_step(ours, sgd[id(ours)], x), x), rounds, warmup=2, clock=clock)


def report(name: str, what: str, c: Comparison, labels: tuple[str, str] = ("torchvision", "archdsl"),
           goal: float | None = 1.02) -> str:
    low, high = c.spread
    verdict = "" if goal is None else "  ok" if c.ratio <= goal else "  SLOWER"
    return (f"{name:<18} {what:<5} {labels[0]} {c.median_a * 1000:8.1f} ms  {labels[1]} {c.median_b * 1000:8.1f} ms  "
            f"ratio {c.ratio:.3f} (rounds {low:.3f}..{high:.3f}; fastest/fastest {c.best_ratio:.3f}){verdict}")


def main() -> None:
    parser = options(__doc__, ",".join(MODELS), rounds=9)
    parser.add_argument("--no-train", action="store_true", help="eval forward only")
    parser.add_argument("--channels-last", action="store_true", help="both models and the input in channels_last")
    args = parser.parse_args()
    clock, header = setup(args)
    print(header + ("; channels_last" if args.channels_last else ""))
    for name in names(args):
        x = batch(name, args)
        reference, ours = pair(name, x.device, args.size)
        xin = x
        if args.channels_last:
            reference, ours = (m.to(memory_format=torch.channels_last) for m in (reference, ours))
            xin = x.contiguous(memory_format=torch.channels_last)
        labels = (reference_label(name), "archdsl")
        print(report(name, "eval", compare_eval(reference, ours, xin, args.rounds, clock), labels), flush=True)
        if not args.no_train:
            print(report(name, "train", compare_train(reference, ours, xin, args.rounds, clock), labels), flush=True)


if __name__ == "__main__":
    main()

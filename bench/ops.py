"""The same work, counted: the aten operators of archdsl's module against the reference's, per network.

One eval forward (under no_grad) and one training step (forward, backward, SGD step) of each model
of a pair (bench/pairs.py: same weights, same input), recorded with torch.profiler; prints the
number of aten operator calls of each and every operator whose count differs. Unlike a timing it
does not depend on the machine's load: equal lists mean the two modules ask PyTorch for the same
kernels, and what a timing then shows beyond that is Python overhead or noise. Small inputs
(64x64; Inception v3 at 299x299 and U-Net at 252x252, their smallest sensible) suffice, as the
counts do not depend on the size.

    .venv/bin/python bench/ops.py [--models mobilenet_v3_large,efficientnet_b0] [--families]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import torch
from pairs import batch, names, options, pair, reference_label
from torch.profiler import ProfilerActivity, profile

from archdsl.pytorch.bench import train_step

SIZES = {"inception_v3": None, "unet": None}  # None: the pair's own input size


def aten_calls(fn: Callable[[], object]) -> Counter[str]:
    with profile(activities=[ProfilerActivity.CPU]) as recording:
        fn()
    return Counter(event.name for event in recording.events() if event.name.startswith("aten::"))


def counts(model: torch.nn.Module, x: torch.Tensor) -> tuple[Counter[str], Counter[str]]:
    """The aten calls of one eval forward and of one training step, each after one untimed run."""
    model.eval()
    with torch.no_grad():
        model(x)
        forward = aten_calls(lambda: model(x))
    model.train()
    sgd = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    train_step(model, sgd, x)
    return forward, aten_calls(lambda: train_step(model, sgd, x))


def main() -> None:
    parser = options(__doc__, "mobilenet_v3_large,efficientnet_b0", rounds=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads or 1)
    args.batch = 2
    for name in names(args):
        args.size = SIZES.get(name, 64)
        x = batch(name, args)
        reference, ours = pair(name, x.device, args.size)
        for mode, theirs, mine in zip(("eval", "train"), counts(reference, x), counts(ours, x)):
            differ = {op: f"{theirs[op]} -> {mine[op]}" for op in sorted(set(theirs) | set(mine))
                      if theirs[op] != mine[op]}
            print(f"{name:<18} {mode:<5} aten calls: {reference_label(name)} {sum(theirs.values()):>5}, archdsl "
                  f"{sum(mine.values()):>5}; differ: {differ or 'none'}", flush=True)


if __name__ == "__main__":
    main()

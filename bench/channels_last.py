"""channels_last on CPU: the same compiled model, NCHW (PyTorch's default) against NHWC, side by side.

`archdsl.load(..., channels_last=True)` against `archdsl.load(...)` holding the same weights, same
input (batch 8 at 224x224 by default), eval forward under no_grad and one training step,
alternating A B A B; prints the median of the per-round ratios channels_last / default (below 1:
channels_last is faster).

    .venv/bin/python bench/channels_last.py [--models resnet34,googlenet] [--rounds 7] [--no-train] [--cpu-time]
"""

from __future__ import annotations

from pairs import ARCHITECTURES, MODELS, batch, input_shape, names, options, setup
from runtime import compare_eval, compare_train, report

import archdsl


def main() -> None:
    parser = options(__doc__, ",".join(MODELS), rounds=7)
    parser.add_argument("--no-train", action="store_true", help="eval forward only")
    args = parser.parse_args()
    clock, header = setup(args)
    print(header + "; ratio = channels_last / default")
    labels = ("default", "channels_last")
    for name in names(args):
        path = ARCHITECTURES / f"{name}.arch"
        x, shape = batch(name, args), input_shape(name, args.size)
        default = archdsl.load(path, device=x.device, input=shape)
        nhwc = archdsl.load(path, device=x.device, channels_last=True, input=shape)
        nhwc.load_state_dict(default.state_dict())
        print(report(name, "eval", compare_eval(default, nhwc, x, args.rounds, clock), labels, None), flush=True)
        if not args.no_train:
            print(report(name, "train", compare_train(default, nhwc, x, args.rounds, clock), labels, None), flush=True)


if __name__ == "__main__":
    main()

"""Transfer learning on scikit-learn's digits: LeNet-5 pretrained on 0-4, adapted to 5-9 from a few examples.

For each seed: train LeNet-5 on every training image of the digits 0-4; then give it a new
5-class head (num_classes=5: every other tensor kept) and train the classifier (fc1-fc3,
reinitialised), the convolutions frozen (`freeze up to conv2`), on SHOTS labelled images per
class of the digits 5-9. Against it: the same network from scratch, all of it trained, on the
same few images. Both are tested on every held-out image of 5-9.

    python examples/transfer_digits.py                 # 5 seeds, 10 images per class
    python examples/transfer_digits.py --shots 5 --seeds 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch
from digits import LENET5, accuracy, fit, load_split

import archdsl
from archdsl.pytorch.weights import save_weights


def few(x: torch.Tensor, y: torch.Tensor, shots: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`shots` random images of each class."""
    generator = torch.Generator().manual_seed(seed)
    keep = torch.cat([(y == c).nonzero().flatten()[torch.randperm(int((y == c).sum()), generator=generator)[:shots]]
                      for c in y.unique()])
    return x[keep], y[keep]


def one_seed(seed: int, shots: int, folder: Path) -> tuple[float, float]:
    x_a, y_a, _, _ = load_split(range(5))
    x_b, y_b, test_x, test_y = load_split(range(5, 10))
    small_x, small_y = few(x_b, y_b, shots, seed)
    torch.manual_seed(seed)
    source = archdsl.load(LENET5, num_classes=5)
    fit(source, x_a, y_a, epochs=15, lr=3e-3, batch_size=32, seed=seed, show=False)
    save_weights(source, folder / "digits0-4.safetensors")

    torch.manual_seed(seed)
    adapted = archdsl.load(LENET5, weights=folder / "digits0-4.safetensors", num_classes=5, freeze="up to conv2")
    for layer in (adapted.fc1, adapted.fc2, adapted.fc3):  # a fresh classifier: only the conv features carry over
        layer.reset_parameters()
    fit(adapted, small_x, small_y, epochs=100, lr=1e-2, batch_size=16, seed=seed, show=False)
    torch.manual_seed(seed)
    scratch = archdsl.load(LENET5, num_classes=5)
    fit(scratch, small_x, small_y, epochs=100, lr=3e-3, batch_size=16, seed=seed, show=False)
    return accuracy(adapted, test_x, test_y), accuracy(scratch, test_x, test_y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shots", type=int, default=10, help="labelled images per class of 5-9")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.seeds):
            results.append(one_seed(seed, args.shots, Path(folder)))
            print(f"seed {seed}: frozen pretrained features {results[-1][0]:.4f}, from scratch {results[-1][1]:.4f}")
    print(f"\n| digits 5-9, {args.shots} images per class | mean test accuracy | std. dev. | seeds |")
    print("|---|---|---|---|")
    for name, column in (("pretrained on 0-4, frozen up to conv2, new head", 0), ("same network from scratch", 1)):
        values = [r[column] for r in results]
        print(f"| {name} | {statistics.mean(values):.4f} | {statistics.pstdev(values):.4f} | {len(values)} |")


if __name__ == "__main__":
    main()

"""Train LeNet-5, compiled from architectures/lenet5.arch, on scikit-learn's handwritten digits.

The 1,797 digits (8x8, shipped with scikit-learn: no download) are upsampled to LeNet's 32x32
and split once, with a fixed seed, into 75% training and 25% held-out test images.

    python examples/digits.py                               # about 98-99% test accuracy, seconds on a CPU
    python examples/digits.py --epochs 5
    torchrun --standalone --nproc_per_node=2 examples/digits.py --ddp   # DistributedDataParallel

With --ddp each process trains on its own half of every epoch (gloo on CPU, nccl on GPU) and
DistributedDataParallel averages the gradients, so all processes hold the same weights.
The last line printed is `test accuracy: 0.xxxx`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import archdsl
from archdsl.pytorch.weights import save_weights

LENET5 = archdsl.architectures_dir() / "lenet5.arch"
SPLIT_SEED = 0  # the held-out test split never changes
BACKGROUND = -1.0  # a blank pixel after normalisation


def load_split(classes: range = range(10)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train images, train labels, test images, test labels) for the given digits, images Bx1x32x32."""
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.images, digits.target, test_size=0.25, random_state=SPLIT_SEED, stratify=digits.target)

    def images(x) -> torch.Tensor:
        x = torch.tensor(x, dtype=torch.float32).unsqueeze(1) / 16.0  # pixel values are 0..16
        x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
        return (x - 0.5) / 0.5  # about zero-centred, where tanh is steepest

    def pick(x, y):
        keep = torch.isin(torch.tensor(y), torch.tensor(list(classes)))
        return images(x)[keep], torch.tensor(y)[keep] - classes.start

    return *pick(x_train, y_train), *pick(x_test, y_test)


class Progress:
    """A one-line progress bar on stderr, redrawn in place (no dependency for something this small)."""

    def __init__(self, total: int, label: str, width: int = 30, enabled: bool = True):
        self.total, self.label, self.width, self.enabled = total, label, width, enabled
        self.done, self.start = 0, time.perf_counter()

    def step(self, note: str = "") -> None:
        self.done += 1
        last = self.done == self.total
        # Redraw on a terminal; in a log file, only the finished bar.
        if self.enabled and (last or sys.stderr.isatty()):
            filled = self.width * self.done // self.total
            bar = "#" * filled + "." * (self.width - filled)
            elapsed = time.perf_counter() - self.start
            print(f"\r{self.label} [{bar}] {self.done}/{self.total} {note} {elapsed:.1f}s", end="\n" if last else "",
                  file=sys.stderr, flush=True)


def batches(n: int, batch_size: int, generator: torch.Generator, rank: int = 0, world: int = 1) -> list[torch.Tensor]:
    """This process's share of a shuffled epoch, split into batches; every process gets as many batches."""
    order = torch.randperm(n, generator=generator)
    order = order[: n - n % world][rank::world]
    return list(order.split(batch_size))


def shifted(x: torch.Tensor, generator: torch.Generator, pad: int = 2) -> torch.Tensor:
    """Every image moved by up to `pad` pixels each way: handwriting is never centred the same way twice."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), value=BACKGROUND)
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, :]
    return padded[torch.arange(n)[:, None, None], 0, rows, cols].unsqueeze(1)


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                batch_size: int, generator: torch.Generator, progress: Progress | None = None,
                rank: int = 0, world: int = 1, max_steps: int | None = None, schedule=None) -> float:
    """One pass over (this process's share of) the data, randomly shifted; returns the mean training loss."""
    model.train()
    x = shifted(x.cpu(), generator).to(x.device)
    total, seen = 0.0, 0
    for step, index in enumerate(batches(len(x), batch_size, generator, rank, world)):
        if max_steps is not None and step >= max_steps:
            break
        loss = F.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
        total, seen = total + loss.item() * len(index), seen + len(index)
        if progress:
            progress.step(f"loss {total / seen:.4f}")
    return total / max(seen, 1)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return (model(x).argmax(1) == y).float().mean().item()


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float, batch_size: int, seed: int,
        show: bool = True, **shard) -> list[float]:
    """Train with Adam over the trainable parameters, one-cycle learning rate; returns each epoch's loss."""
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    generator = torch.Generator().manual_seed(seed)
    rank, world, max_steps = shard.get("rank", 0), shard.get("world", 1), shard.get("max_steps")
    per_epoch = len(batches(len(x), batch_size, torch.Generator(), rank, world))
    per_epoch = min(per_epoch, max_steps) if max_steps is not None else per_epoch
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=max(epochs * per_epoch, 1))
    losses = []
    for epoch in range(1, epochs + 1):
        progress = Progress(per_epoch, f"epoch {epoch:>2}/{epochs}", enabled=show)
        losses.append(train_epoch(model, optimizer, x, y, batch_size, generator, progress, schedule=schedule,
                                  **shard))
    return losses


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0, help="initial weights and shuffling")
    parser.add_argument("--ddp", action="store_true", help="DistributedDataParallel; start with torchrun")
    parser.add_argument("--max-steps", type=int, help="stop each epoch after this many steps (quick checks)")
    parser.add_argument("--save", help="write the trained weights (.safetensors); with --ddp, '{rank}' in the "
                                       "name makes every process write its own copy")
    args = parser.parse_args(argv)

    rank, world, device = 0, 1, torch.device("cpu")
    if args.ddp:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
        rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
        if backend == "nccl":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
    torch.manual_seed(args.seed)
    x_train, y_train, x_test, y_test = (t.to(device) for t in load_split())
    network = archdsl.load(LENET5, device=device)
    model = nn.parallel.DistributedDataParallel(network) if args.ddp else network
    lead = rank == 0
    if lead:
        print(f"LeNet-5 on digits: {len(x_train)} training, {len(x_test)} test images; {world} process(es)")
    start = time.perf_counter()
    fit(model, x_train, y_train, args.epochs, args.lr, args.batch_size, args.seed, show=lead, rank=rank,
        world=world, max_steps=args.max_steps)
    result = accuracy(network, x_test, y_test)
    if args.save and (lead or "{rank}" in args.save):
        save_weights(network, args.save.format(rank=rank))
    if args.ddp:
        torch.distributed.destroy_process_group()
    if lead:
        print(f"trained in {time.perf_counter() - start:.1f}s")
        print(f"test accuracy: {result:.4f}")
    return result


if __name__ == "__main__":
    main()

"""The figures of a batch of N samples: what one forward pass computes and keeps grows with N (MACs,
other ops, activations, tensors saved for backward); parameters, buffers, gradients and optimizer state
do not. Every activation and saved tensor holds the batch dimension, but for the batch statistics
that batch norm (and the group and layer norms) keep for backward, two numbers per channel or group
whatever N: those are counted N times, an overestimate of (N - 1) x 8 bytes per channel (0.2% of
ResNet-50's saved tensors). Under autocast, the low-precision copies of the weights that convolutions and
linears keep are one a forward whatever N (Row.weight_copy_bytes): they are not multiplied."""

from __future__ import annotations

import dataclasses

from archdsl.analysis.costs import Analysis, Row

PER_SAMPLE = ("macs", "ops", "activation_bytes", "saved_bytes")


def at_batch(analysis: Analysis, batch: int) -> Analysis:
    if batch < 1:
        raise ValueError(f"batch must be 1 or more, got {batch}")
    if batch == analysis.batch:
        return analysis
    factor = batch / analysis.batch
    rows = [dataclasses.replace(row, **{k: round((getattr(row, k) - _fixed(row, k)) * factor) + _fixed(row, k)
                                        for k in PER_SAMPLE})
            for row in analysis.rows]
    totals = {k: sum(getattr(r, k) for r in rows) for k in PER_SAMPLE}
    return dataclasses.replace(analysis, rows=rows, batch=batch, **totals)


def _fixed(row: Row, what: str) -> int:
    return row.weight_copy_bytes if what == "saved_bytes" else 0

"""Warnings: legal programs that are probably not what their author meant.

Each rule looks at the shape-checked IR and returns warnings at the source of the layer in
question. `archdsl check --strict` and `archdsl compile --strict` turn them into errors.
A block used many times warns once, at its definition. Warnings inside a statement that
`allow`s their code are left out (allowed.py), so `--strict` does not fail on them either.
"""

from __future__ import annotations

from collections.abc import Callable

from archdsl.errors import ArchError, Diagnostic
from archdsl.ir.nodes import IR, Join, Layer, known
from archdsl.shapes.allowed import allowed, regions
from archdsl.shapes.inference import fmt


def lint(ir: IR) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    seen: set[tuple[str, object]] = set()
    where = regions(ir.program)
    for rule in RULES:
        for d in rule(ir):
            if (d.message, d.span) not in seen and not allowed(d, where):
                seen.add((d.message, d.span))
                found.append(d)
    return found


def as_errors(warnings: list[Diagnostic], sources: dict[str, str]) -> ArchError:
    """The warnings as the errors `--strict` makes of them."""
    return ArchError([Diagnostic(f"{d.message} [--strict]", d.span, "error", d.hint, d.notes, code=d.code)
                      for d in warnings], sources)


def _pool_drops_input(ir: IR) -> list[Diagnostic]:
    """A fixed-window pooling whose windows stop short of the input's last rows or columns."""
    out = []
    for layer in ir.enabled_layers():
        if layer.op not in ("maxpool", "avgpool") or layer.derived.adaptive is not False or layer.attrs["ceil_mode"]:
            continue
        kh, kw = known(layer.derived.kernel, layer, "kernel")
        sh, sw = known(layer.derived.stride, layer, "stride")
        ph, pw = known(layer.derived.padding, layer, "padding")
        assert layer.in_shape is not None and layer.out_shape is not None  # inferred for every enabled layer
        _, h, w = layer.in_shape
        _, oh, ow = layer.out_shape
        rows = _dropped(h, kh, sh, ph, oh)
        cols = _dropped(w, kw, sw, pw, ow)
        if rows or cols:
            what = " and ".join(f"the last {n} {unit}{'s' * (n > 1)}" for n, unit in ((rows, "row"), (cols, "column"))
                                if n)
            out.append(Diagnostic(f"'{layer.describe()}' ignores {what} of its {fmt(layer.in_shape)} input",
                                  layer.span, "warning",
                                  hint="add ceil_mode=true or padding, or feed it a size its stride divides",
                                  code="pool-drops-input"))
    return out


def _dropped(size: int, k: int, s: int, p: int, out: int) -> int:
    last_covered = (out - 1) * s + k - 1  # in padded coordinates
    last_real = p + size - 1
    return max(last_real - last_covered, 0)


def _dropout_at_the_end(ir: IR) -> list[Diagnostic]:
    """Dropout as the network's last layer zeroes the very outputs the loss sees."""
    last = _producer(ir, ir.layers[ir.output])
    if last is not None and last.op == "dropout" and last.enabled:
        return [Diagnostic("dropout is the last layer: in training mode it zeroes some of the network's outputs",
                           last.span, "warning", hint="put the dropout before the final fc layer", code="dropout-last")]
    return []


def _softmax_at_the_end(ir: IR) -> list[Diagnostic]:
    """A classifier whose last layer is softmax: nn.CrossEntropyLoss takes logits and applies log-softmax
    itself, so training such a network applies softmax twice and learns slowly, silently."""
    last = _producer(ir, ir.layers[ir.output])
    if last is not None and last.op == "softmax" and last.enabled and last.out_shape is not None \
            and len(last.out_shape) == 1:
        return [Diagnostic("the classifier ends in softmax: nn.CrossEntropyLoss expects logits and applies "
                           "log-softmax itself, so training on these outputs applies softmax twice", last.span,
                           "warning", hint="leave softmax out and apply it when predicting (model(x).softmax(1)); "
                           "for a loss that does take probabilities, write `softmax allow(softmax-last)`",
                           code="softmax-last")]
    return []


def _bias_before_batch_norm(ir: IR) -> list[Diagnostic]:
    """A convolution's bias feeding only a batch norm: the norm subtracts the mean, and the bias with it."""
    out = []
    for layer in ir.enabled_layers():
        conv = _producer(ir, layer) if layer.op == "bn" else None
        if conv is not None and conv.op == "conv" and conv.enabled and conv.attrs["bias"] \
                and len(conv.outputs) == 1:
            out.append(Diagnostic(f"the bias of '{conv.describe()}' is cancelled by the batch norm after it",
                                  conv.span, "warning",
                                  hint=f"write bias=false ({conv.attrs['channels']:,} parameters that never learn "
                                       "anything: the batch norm's own shift does their job)", code="bias-before-bn"))
    return out


def _dropout_of_everything(ir: IR) -> list[Diagnostic]:
    """p=1 zeroes every value in training mode: nothing after it can learn."""
    return [Diagnostic("dropout with p=1 zeroes every value in training mode", layer.span, "warning",
                       hint="p is the fraction dropped, not kept: torch's convention (0.5 is the usual value)",
                       code="dropout-all")
            for layer in ir.enabled_layers() if layer.op == "dropout" and layer.attrs["p"] == 1]


def _lossy_shortcut(ir: IR) -> list[Diagnostic]:
    """An automatic shortcut striding by more than 2 keeps a small fraction of its input: rarely meant."""
    out = []
    for layer in ir.enabled_layers():
        if layer.op != Join.SHORTCUT or layer.derived.decision not in ("projection", "pad"):
            continue
        sh, sw = known(layer.derived.stride, layer, "stride")
        if max(sh, sw) <= 2:
            continue
        assert layer.in_shape is not None and layer.out_shape is not None  # inferred for every enabled layer
        out.append(Diagnostic(
            f"the residual's automatic shortcut strides by {sh}x{sw} to turn its {fmt(layer.in_shape)} input into "
            f"the body's {fmt(layer.out_shape)}: it keeps 1 of every {sh * sw} input positions", layer.span,
            "warning", hint="a residual adds body(x) + shortcut(x); a gate x * f(x) (squeeze-and-excitation) is "
                            "written gate<...>; if a downsampling shortcut is meant, pool in the body, or write the "
                            "shortcut: residual<body | shortcut>", code="lossy-shortcut"))
    return out


def _producer(ir: IR, layer: Layer) -> Layer | None:
    return ir.layers[layer.inputs[0]] if layer.inputs else None


RULES: list[Callable[[IR], list[Diagnostic]]] = [_pool_drops_input, _dropout_at_the_end, _bias_before_batch_norm,
                                                 _dropout_of_everything, _lossy_shortcut, _softmax_at_the_end]

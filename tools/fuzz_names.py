"""Fuzz inputs that aim at code generation's names and at number limits (used by tools/fuzz.py).

`collisions()` writes small, mostly valid programs whose every user name -- labels, side outputs,
block names and parameters, the network's name and parameter -- is drawn from the identifiers the
emitted module itself uses (`identity`, `shortcut_stride`, `NOutputs`, `x`, ...), Python's builtins
and torch's names. Grammar-generated text almost never puts such a name where it matters, and
when it does the program rarely passes the shape check; these programs do, so the emitted module
is built and run. With some probability one number is replaced by a boundary literal (`huge()`):
the largest accepted integer, one digit more, 2^31, 2^63, 1e308, a denormal.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from functools import cache

from archdsl.errors import ArchError
from archdsl.pipeline import build

# What the emitted module names: locals and attributes of forward()/__init__ (identity, gated,
# shortcut_stride/_channels and their numbered twins), its imports and module-level functions,
# class names as the generator spells them (network `n`: `N`, `NOutputs`), extra constructor arguments.
GENERATED = ["identity", "identity2", "gated", "gated2", "shortcut_stride", "shortcut_channels",
             "shortcut_stride2", "shortcut_channels2", "x", "self", "N", "NOutputs", "NOutputs2", "N2", "B", "Bb",
             "Outputs", "FROZEN", "in_channels", "in_features", "out", "load_report", "torch", "nn", "Tensor",
             "OrderedDict", "NamedTuple", "Path", "json", "hashlib", "math", "annotations", "pretrained",
             "read_safetensors", "LayerNorm2d"]
BUILTINS = ["len", "range", "print", "super", "object", "int", "float", "bool", "type", "isinstance", "getattr",
            "setattr", "list", "tuple", "dict", "min", "max", "sum", "zip", "id", "input", "hash", "iter", "next",
            "globals", "locals", "vars", "open", "exec", "eval", "compile", "__import__", "__name__", "__class__",
            "__init__", "__dict__", "_modules", "_parameters", "None", "True", "lambda", "class", "def", "return"]
TORCH = ["F", "functional", "Sequential", "Conv2d", "Linear", "Module", "ModuleList", "ModuleDict", "Parameter",
         "cat", "flatten", "relu", "pad", "add", "mul", "forward", "train", "training", "eval", "children",
         "modules", "state_dict", "to", "cuda", "cpu", "float", "half", "register_buffer", "apply", "features",
         "classifier", "layer1", "conv1", "bn1", "fc", "downsample", "avgpool"]
NAMES = GENERATED + BUILTINS + TORCH

# Around the limits: the largest integer of 18 digits (accepted) and one of 19 (refused), 2^31, 2^32,
# 2^63, 2^64, the largest double and beyond it, denormals.
HUGE = ["999999999999999999", "1000000000000000000", "2147483647", "2147483648", "4294967296",
        "9223372036854775807", "9223372036854775808", "18446744073709551616", "65536", "100000", "1e308",
        "1.7976931348623157e308", "1e309", "1e-320", "4.9e-324", "0.9999999999999999", "1e18"]


# A name the checker refuses in one place (a parameter named `self`) spoils the whole program: each
# name is tried once in each role, and a role mostly gets names it accepts.
ROLES = {
    "label": "network n {{ input 3x8x8; {0}: relu }}",
    "side": "network n {{ input 3x8x8; {0}: side<gap; flatten; fc-10>; relu }}",
    "block": "block {0}(c) {{ conv3-c }}\nnetwork n {{ input 3x8x8; {0}(4) }}",
    "param": "block b({0}) {{ conv3-{0} }}\nnetwork n {{ input 3x8x8; b(4) }}",
    # a parameter holding a layer word, used as a statement: `act`, then `relu` itself, `identity`, `x`, ...
    "wordparam": "block b(c, {0} = relu) {{ conv3-c; {0} }}\nnetwork n {{ input 3x8x8; b(4); b(4, silu) }}",
    "netparam": "network n({0} = 4) {{ input 3x8x8; conv3-{0} }}",
    "network": "network {0} {{ input 3x8x8; relu }}",
}


@cache
def accepted(role: str) -> tuple[str, ...]:
    ok = []
    for name in NAMES:
        try:
            build("roles.arch", source=ROLES[role].format(name))
            ok.append(name)
        except ArchError:
            pass
    return tuple(ok)


def huge(rng: random.Random) -> str:
    return rng.choice(HUGE)


# Layer words a block may take as an argument (`act = relu6`), and one it may not.
WORD_ARGUMENTS = ["relu", "relu6", "hardswish", "silu", "sigmoid", "gelu", "identity", "bn"]


def _statement(rng: random.Random, name: Callable[[str], str], c: str, blocks: list[str], network: bool,
               worded: frozenset[str] = frozenset()) -> str:
    def label() -> str:
        return f"{name('label')}: " if rng.random() < 0.8 else ""

    choices = [
        lambda: f"{label()}conv3-{c}",
        lambda: f"{label()}conv3-{c}(bias=false); {label()}bn; relu",
        lambda: f"residual<{label()}conv3-{c}; {label()}bn>",
        lambda: f"residual<{label()}conv3-{c}/2; relu; {label()}conv3-{c}>",
        lambda: f"residual(shortcut=pad)<{label()}conv3-{c}/2>",
        lambda: f"residual(shortcut=pad)<{label()}conv3-{c}/2>; residual(shortcut=pad)<{label()}conv3-{c}/2>",
        lambda: f"inception<{label()}conv1-4 | {label()}conv3-4 | identity>",
        lambda: f"gate<{label()}conv1-{c}; sigmoid>",
        lambda: f"gate<{label()}conv1-{c} | {label()}conv1-{c}; sigmoid>",
        lambda: f"({label()}conv3-{c}; relu) x 2",
        lambda: f"{label()}(conv3-{c}; relu) x 2",
        lambda: f"{label()}dropout(p=0.5)",
    ]
    if blocks:
        choices += [lambda: f"{label()}{rng.choice(blocks)}({c})"] * 3
    if worded:
        choices += [lambda: f"{label()}{rng.choice(sorted(worded))}({c}, {rng.choice(WORD_ARGUMENTS)})"] * 2
    if network:
        choices += [lambda: f"{name('side')}: side<gap; flatten; {label()}fc-10>"] * 2
    return rng.choice(choices)()


def collisions(rng: random.Random) -> str:
    """A program whose user names are all drawn from NAMES; sometimes one number is a boundary literal."""
    pool = set(rng.sample(NAMES, 20)) if rng.random() < 0.5 else set(NAMES)  # a small pool repeats names

    def name(role: str) -> str:
        if rng.random() < 0.05:
            return rng.choice(NAMES)
        return rng.choice([n for n in accepted(role) if n in pool] or accepted(role))

    blocks: list[str] = []
    worded: set[str] = set()  # the blocks whose second parameter holds a layer word
    text = ""
    for _ in range(rng.randint(0, 2)):
        block, param = name("block"), name("param")
        body = "; ".join(_statement(rng, name, param, blocks, False, frozenset(worded))
                         for _ in range(rng.randint(1, 3)))
        word = name("wordparam") if rng.random() < 0.5 else None
        if word is not None and word != param:
            body += f"; {word}"
            worded.add(block)
        params = f"{param}, {word} = {rng.choice(WORD_ARGUMENTS[:-1])}" if block in worded else param
        text += f"block {block}({params}) {{\n    {body}\n}}\n"
        blocks.append(block)
    net, param = name("network"), name("netparam")
    body = ";\n    ".join(_statement(rng, name, rng.choice((param, "8")), blocks, True, frozenset(worded))
                          for _ in range(rng.randint(1, 4)))
    text += (f"network {net}({param} = {rng.choice(('4', '8', '16'))}) {{\n    input 3x{rng.choice(('8', '16'))}x8;\n"
             f"    {body};\n    gap; flatten; {name('label')}: fc-10\n}}\n")
    if rng.random() < 0.3:
        numbers = list(re.finditer(r"(?<![\w.])\d+(?![\w.])", text))
        if numbers:
            m = rng.choice(numbers)
            text = text[:m.start()] + huge(rng) + text[m.end():]
    return text

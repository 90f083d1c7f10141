"""The stable code of every diagnostic archdsl reports, declared once.

A code names a kind of problem, not one wording of it: messages may be reworded, codes stay, so
users can search for them, tools can match them (JSON output, per-statement suppression of
warnings) and docs/diagnostics.md can list them (its table is generated from this one; a test
keeps them equal). tests/test_codes.py fails when a construction site uses a code not declared
here, or a code declared here is used nowhere.
"""

from __future__ import annotations

from typing import NamedTuple


class Code(NamedTuple):
    severity: str  # "error" | "warning"; a warning made an error by --strict keeps its code
    stage: str  # where it is found: the heading it is listed under in docs/diagnostics.md
    description: str


def _table(stage: str, severity: str, rows: dict[str, str]) -> dict[str, Code]:
    return {code: Code(severity, stage, description) for code, description in rows.items()}


CODES: dict[str, Code] = {
    **_table("syntax", "error", {
        "syntax": "the parser met a token it did not expect (no more specific explanation applies)",
        "unexpected-character": "a character that no token of the language starts with",
        "missing-semicolon": "two statements without a ';' between them",
        "missing-option-value": "an option with '=' but no value",
        "missing-comma": "two options without a ',' between them",
        "bad-dash-argument": "a '-' or '/' argument that is not a number, a name or a bracketed expression",
        "bad-repetition": "'x' without a repetition count after it",
        "bad-label": "a label without the layer it names",
        "bad-condition": "'if' without a condition after it",
        "greater-in-condition": "a bare '>' in an `if` condition, where it would close a '<' bracket",
        "one-branch": "inception<...> or split<...> with fewer than two branches",
        "empty-statement": "two ';' in a row",
        "missing-input": "a network body that does not start with its input declaration",
        "missing-input-semicolon": "no ';' after the input declaration",
        "bad-input-shape": "an input shape not written CxHxW",
        "bad-parameters": "a parameter list that is not names with optional defaults",
        "bad-use": "`use` without a quoted path",
        "stray-statement": "a statement outside any network or block",
        "missing-name": "a network or block declaration without a name",
        "missing-brace": "a declaration without the '{' of its body",
        "unclosed-bracket": "the file ends inside a '{', '(' or '<'",
        "nesting-too-deep": "brackets, expressions, blocks or groups nested too deeply",
        "number-too-large": "a number or expression value too large to be meant",
        "bad-freeze": "a freeze list (freeze= or --freeze) that cannot be read",
        "misplaced-default": "a `default` statement anywhere but first in a network or block body",
        "misplaced-init": "an `init` declaration anywhere but first in a network body",
        "bad-allow": "`allow` without warning codes in parentheses",
    }),
    **_table("files", "error", {
        "cannot-read": "an input file (.arch, `use`d file, stdin) that cannot be read",
        "bad-use-path": "a `use` path that cannot name a file",
        "use-cycle": "files that `use` each other in a cycle",
    }),
    **_table("names", "error", {
        "no-network": "a compiled file without a network",
        "several-networks": "a file with more than one network",
        "duplicate-block": "a block defined twice",
        "block-is-layer-word": "a block named like a layer word",
        "unknown-word": "a layer or block name that is not defined",
        "not-a-word-argument": "a layer word given as a block argument that no block can take as one (a block, a "
                               "word that needs options or has weights, a kernel-sized word), or given to a network "
                               "parameter",
        "value-as-word": "a statement naming a block parameter that holds a number, not a layer word",
        "word-argument-options": "a statement naming a layer word parameter (`act`) with '-', '/' or options, or "
                                 "one that a `default` gives options other than the word's own",
        "undefined-name": "an expression that names no parameter in scope",
        "unknown-parameter": "an argument or --set for a parameter that does not exist",
        "duplicate-parameter": "a block or network with two parameters of one name",
        "missing-default": "a network parameter without a default value or --set",
        "reserved-name": "a label or parameter name that the generated Python reserves",
        "duplicate-label": "two members of one block or group with one label",
        "bad-module-name": "a quoted or numbered label PyTorch cannot take as a module name ('', a '.'), "
                           "or a side output's label that is no identifier",
        "bad-label-value": "a label's braces (`denselayer{i}`) that do not give an integer",
        "recursive-block": "a block that uses itself, directly or through others",
        "unknown-option": "an option a layer does not have",
        "duplicate-option": "an option given twice",
        "duplicate-argument": "a block argument given twice",
        "missing-option": "a layer without an option it needs",
        "missing-argument": "a block use without an argument it needs",
        "layer-arity": "a layer with too many '-', '/' or positional arguments",
        "block-arity": "a block use with the wrong number of arguments",
        "block-arguments": "a block used with '-' or '/' arguments",
        "bad-default": "a `default` for no layer word, for a kernel-sized word, or with a positional option",
        "duplicate-default": "two `default` statements for one word in one body",
        "bad-init": "an `init` for a word without weights, a block, a kernel-sized word or a group; an unknown "
                    "scheme, or one that needs fans for a norm",
        "duplicate-init": "two `init` declarations for one word",
        "unknown-code": "an `allow(...)` code that names no diagnostic",
        "allow-error": "an `allow(...)` code that names an error: only warnings can be allowed",
    }),
    **_table("values", "error", {
        "bad-option-value": "an option value out of its range (channels, stride, kernel, p, ...)",
        "not-a-number": "a value that must be a number and is not",
        "word-as-value": "a block parameter holding a layer word (`act = relu6`) used as a number, condition or "
                         "option value",
        "not-a-boolean": "an operand of `and`, `or` or `not` that is not true or false",
        "division-by-zero": "an expression that divides by zero",
        "zero-input": "an input shape with a dimension below 1",
        "bad-repeat": "a repetition count that is not a positive integer",
        "repeat-depends-on-argument": "a labelled repetition (an nn.Sequential) whose count differs between the "
                                      "uses of its block",
        "bad-condition-value": "an `if` condition that is not true or false",
        "unknown-input-width": "`in_channels` of a block whose input shape is unknown after earlier errors",
        "misplaced-if": "a condition on a statement that cannot be switched off",
        "empty-block": "a block without statements",
        "bad-residual-option": "a residual option other than shortcut=... and drop=...",
        "conditional-branch": "an inception or split branch with a condition",
        "bad-concat-option": "an option of concat<...> (or inception<...>) other than flat",
        "container-in-chain": "a residual, concat, gate, split or side output in a sequential block, or a residual "
                              "in a concat(flat) branch",
        "side-needs-label": "a side<...> without the label that names its output",
        "misplaced-side": "a side<...> inside a block",
        "duplicate-side": "two side outputs of one name",
        "side-named-out": "a side output named 'out'",
        "output-needs-label": "an output<...> without the label that is its key in the returned dict",
        "misplaced-output": "an output<...> inside a block, a group, a branch or another body",
        "duplicate-output": "two named outputs of one name",
        "side-with-output": "side<...> and output<...> in one network",
        "empty-conditional-output": "an output<...> with `if` whose body holds no layer",
        "after-last-output": "a statement after a network's last output<...>",
        "no-output": "a network whose every output<...> is switched off",
        "label-on-container": "a label on a residual<...>, inception<...>, gate<...>, split<...> or side<...> "
                              "itself",
        "container-in-group": "a residual<...>, inception<...>, gate<...> or split<...> inside a labelled group",
        "parameter-in-group": "a `scale` (a parameter, not a module) inside a labelled group",
        "misplaced-reference": "an @name inside a labelled group or a sequential block",
        "forward-reference": "an @name that names a statement standing after it",
        "unknown-reference": "an @name that names no earlier labelled statement of its block or network",
        "unreadable-reference": "an @name of a statement inside an nn.Sequential, or of a side output",
        "tensor-argument": "a value passed to a block's tensor parameter (`@low`), or a tensor to a value one",
        "bad-parameter-value": "a parameter given from Python or --set that is not a number or true/false",
        "bad-input-override": "an input override that is not CxHxW",
        "bad-override": "a --set value (or load() keyword) that is not one expression",
    }),
    **_table("shapes", "error", {
        "shape-mismatch": "a layer given a tensor of the wrong rank (a feature map where flat features are "
                          "needed, or the reverse)",
        "even-kernel-same": "'same' padding with an even kernel",
        "input-too-small": "a window larger than its (padded) input",
        "bad-groups": "conv groups that do not divide the channels",
        "bad-dim": "a dimension option out of range for the tensor it applies to (softmax(dim=7))",
        "bad-pool-padding": "pooling padding more than half the window",
        "residual-mismatch": "a residual whose body and shortcut give different shapes",
        "pad-shortcut-reduces": "a zero-padding shortcut that would have to drop channels",
        "inception-mismatch": "concat, inception or split branches that give different spatial sizes or flat features",
        "bad-split": "a split<...> whose branches do not divide the channels, or that is given flat features",
        "bad-crop": "a crop(@label) to a size larger than the map it cuts",
        "gate-mismatch": "a gate whose factors do not multiply elementwise (other channels, or a size but 1x1)",
        "channels-last": "a layer that needs a channels-first (C, H, W) map given a channels-last one (after "
                         "permute(0, 2, 3, 1))",
        "bad-permute": "a permute other than permute(0, 2, 3, 1) of a channels-first map or permute(0, 3, 1, 2) "
                       "of a channels-last one",
    }),
    **_table("budgets", "error", {
        "budget-layers": "more layers after unrolling than max_layers",
        "budget-tokens": "a source (with the files it uses) of more tokens than max_tokens, refused before parsing",
        "too-many-errors": "expansion stopped after 100 errors",
        "budget-repeat": "one repetition count larger than max_repeat",
        "budget-params": "more parameters than max_params",
        "budget-activation": "one tensor larger than max_activation values per sample",
    }),
    **_table("warnings", "warning", {
        "pool-drops-input": "a fixed-window pooling that ignores the last rows or columns of its input",
        "dropout-last": "dropout as the last layer",
        "softmax-last": "softmax as a classifier's last layer (nn.CrossEntropyLoss applies it itself)",
        "bias-before-bn": "a convolution bias that the batch norm right after it cancels",
        "dropout-all": "dropout with p=1",
        "lossy-shortcut": "a residual's automatic shortcut that strides by more than 2, dropping most of its input",
    }),
    **_table("commands", "error", {
        "cannot-write": "an output that cannot be written (or would overwrite an input or another output)",
        "cannot-freeze": "a freeze target that is not a top-level part with weights",
        "bad-features": "a features= list naming no layer, a shared layer or a conditional one",
        "cannot-read-weights": "a weights file that cannot be read",
        "not-a-state-dict": "a weights file that does not hold named tensors",
        "weights-mismatch": "weights whose names, shapes or dtypes do not fit the model",
        "bad-drawing-option": "a drawing depth or direction out of range",
        "unknown-format": "a drawing output with an unknown suffix",
        "no-graphviz": "Graphviz's `dot` program is missing",
        "drawing-too-large": "a drawing too large for Graphviz to lay out in seconds (--depth, --fold-repeats, .dot)",
        "no-cuda": "--device cuda without a CUDA device",
        "out-of-memory": "a network whose weights or activations would not fit in the free memory",
        "missing-dependency": "a command whose optional dependency is not installed (`archdsl lsp` needs pygls)",
    }),
}


def describe(code: str) -> Code:
    """The declaration of `code`; a KeyError means a construction site uses an undeclared code."""
    return CODES[code]

"""Names the emitted Python reserves, which a user's label, side output or parameter may not take.

Torch-free on purpose: expansion refuses these names (`reserved-name`) long before the PyTorch back
end exists, so `check` refuses what the emitted module could not run. tests/test_injection.py
compares MODULE_ATTRIBUTES with the installed torch, so a torch that adds a method to nn.Module
(as 2.2 added `compile`) fails a test rather than a user's forward.
"""

from __future__ import annotations

# Public attributes of nn.Module and nn.Sequential (a labelled group is one): a label is an
# attribute (`self.conv1`), and add_module refuses a name the class already has.
MODULE_ATTRIBUTES = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "compile", "cpu",
    "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer", "get_extra_state",
    "get_parameter", "get_submodule", "half", "ipu", "load_state_dict", "modules", "mtia", "named_buffers",
    "named_children", "named_modules", "named_parameters", "parameters", "register_backward_hook",
    "register_buffer", "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
    "register_module", "register_parameter", "register_state_dict_post_hook", "register_state_dict_pre_hook",
    "requires_grad_", "set_extra_state", "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train",
    "training", "type", "xpu", "zero_grad",
    "append", "extend", "insert", "pop",  # nn.Sequential's own
})

# What the emitted classes use besides: their constructor's first argument, forward's tensor, the
# imports a method body names, the frozen-parts tuple.
EMITTED_NAMES = frozenset({"in_channels", "self", "x", "torch", "nn", "Tensor", "super", "FROZEN"})

# Builtins and modules that run or load code: the guard (archdsl/pytorch/guard.py) refuses any
# Python name among them in the emitted module, so no parameter or side output (both local
# variables there) may take one.
UNSAFE_NAMES = frozenset({
    "exec", "eval", "compile", "open", "__import__", "getattr", "setattr", "delattr", "globals", "locals",
    "vars", "breakpoint", "input", "os", "sys", "subprocess", "importlib", "builtins", "__builtins__", "pickle",
})

# `@input` reads the block's or network's input: no statement may be labelled so.
INPUT_REF = "input"

"""The initialisation schemes `init` can name: each is one of torch.nn.init's functions, with its options.

`init conv(kaiming_normal, mode=fan_out, nonlinearity=relu)` names a scheme and its options; which
words `init` may name, and which of their tensors it sets, is each word's registry entry
(`LayerSpec.init`). The options are checked as a layer's are (registry.check_option), so a wrong
mode or a negative std is reported at its place in the file.
"""

from __future__ import annotations

from typing import NamedTuple

from archdsl.layers.registry import Option

# The nonlinearities torch.nn.init.calculate_gain knows.
NONLINEARITIES = ("linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu")
_FAN = (Option("a", "float", 0, "the negative slope of the leaky ReLU after it (nonlinearity=leaky_relu)"),
        Option("mode", "choice", "fan_in", "keep the variance of the forward (`fan_in`) or the backward "
               "(`fan_out`) pass", ("fan_in", "fan_out")),
        Option("nonlinearity", "choice", "leaky_relu", "the activation after it, for the gain", NONLINEARITIES))
_GAIN = (Option("gain", "float", 1.0, "scaling factor"),)


class Scheme(NamedTuple):
    """A way to fill a weight: `function` of torch.nn.init with `options` (those given are passed by name)."""

    name: str  # as written after `init word(`
    function: str  # torch.nn.init's; "" for `default`: no call
    options: tuple[Option, ...]
    fans: bool  # needs the weight's fan-in and fan-out: only for words whose weight has them (conv, fc)
    doc: str
    required: tuple[str, ...] = ()
    keywords: tuple[tuple[str, str], ...] = ()  # options torch names otherwise: (ours, torch's)


SCHEMES: dict[str, Scheme] = {s.name: s for s in (
    Scheme("kaiming_normal", "kaiming_normal_", _FAN, True,
           "normal(0, gain / sqrt(fan)) (He et al., 2015): torchvision's ResNet, VGG, MobileNet"),
    Scheme("kaiming_uniform", "kaiming_uniform_", _FAN, True,
           "uniform(±gain * sqrt(3 / fan)): torchvision's SqueezeNet"),
    Scheme("xavier_normal", "xavier_normal_", _GAIN, True, "normal(0, gain * sqrt(2 / (fan_in + fan_out)))"),
    Scheme("xavier_uniform", "xavier_uniform_", _GAIN, True, "uniform(±gain * sqrt(6 / (fan_in + fan_out)))"),
    Scheme("normal", "normal_",
           (Option("mean", "real", 0.0, "mean"), Option("std", "float", 1.0, "standard deviation")), False,
           "normal(mean, std): torchvision's VGG classifier, std=0.01"),
    Scheme("trunc_normal", "trunc_normal_",
           (Option("mean", "real", 0.0, "mean"), Option("std", "float", 1.0, "standard deviation"),
            Option("a", "real", -2.0, "the lowest value (absolute, not in stds)"),
            Option("b", "real", 2.0, "the highest value")),
           False, "normal(mean, std) redrawn outside [a, b]: torchvision's GoogLeNet, Inception v3, ConvNeXt"),
    Scheme("uniform", "uniform_", (Option("a", "real", 0.0, "the lowest value"),
                                   Option("b", "real", 1.0, "the highest value")), False, "uniform(a, b)"),
    Scheme("constant", "constant_", (Option("value", "real", None, "the value"),), False, "every element `value`",
           required=("value",), keywords=(("value", "val"),)),
    Scheme("ones", "ones_", (), False, "every element 1: norms' scales"),
    Scheme("zeros", "zeros_", (), False, "every element 0"),
    # torchvision's DenseNet zeroes its classifier's bias and keeps PyTorch's start for the weight.
    Scheme("default", "", (), False, "the weight as PyTorch's reset_parameters left it (a rule for the bias alone)"),
)}
# What `bias=` may set, next to the weight's scheme.
BIAS_SCHEMES = ("zeros", "ones")

"""The layer vocabulary as a registry: one entry per layer word with every rule the stages need.

registry.py is the framework (`LayerSpec`, `register`, `lookup`, `bind`, `suggest`); each family
module registers its words when imported here, in the order docs/language.md lists them; joins.py
registers the graph's joins. docs.py renders the words' table of docs/language.md.
"""

# isort: off
# Imported in the order docs/language.md lists the words: registration order is the table's.
from archdsl.layers import conv, linear, pooling, activations, regularization, normalization, scale, reshape, resize, transforms, joins  # noqa: F401,E501
# isort: on
from archdsl.layers.registry import (
    OPS,
    PADDING_WORDS,
    SPECS,
    Bound,
    LayerSpec,
    Option,
    argument_words,
    bind,
    lookup,
    suggest,
    words,
)

__all__ = ["OPS", "PADDING_WORDS", "SPECS", "Bound", "LayerSpec", "Option", "argument_words", "bind", "lookup",
           "suggest", "words"]

"""Stage 2, the graph IR: the AST's network with blocks and repetitions unrolled into a dataflow
graph of layers plus the module structure the emitted code and drawings share. nodes.py holds
the records (derived.py the sizes shape inference adds to a layer), expansion.py builds them,
naming.py names the module attributes; freeze.py resolves `freeze` declarations against it."""

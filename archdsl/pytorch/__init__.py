"""Stage 4, the PyTorch back end: code generation (codegen.py) and its independent check (guard.py),
and everything that runs the emitted module: runtime.py (`archdsl.load`), weights.py, folding.py
(`archdsl.fuse`), features.py, bench.py and timing.py. The only package of archdsl that imports torch."""

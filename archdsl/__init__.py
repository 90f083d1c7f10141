"""archdsl: a declarative language for convolutional network architectures, and its compiler.

    import archdsl
    model = archdsl.load("architectures/resnet34.arch", num_classes=10)

The pipeline, one module per stage: parser -> ast -> ir -> shapes -> codegen (pipeline.py
chains them; cli.py is the command line).
"""

from archdsl.errors import ArchError, Diagnostic
from archdsl.folding import fuse
from archdsl.pipeline import build, compile_source, load
from archdsl.resources import architectures_dir, bundled_architectures
from archdsl.viz import draw

__all__ = ["ArchError", "Diagnostic", "architectures_dir", "build", "bundled_architectures", "compile_source", "draw",
           "fuse", "load"]
__version__ = "0.1.0"

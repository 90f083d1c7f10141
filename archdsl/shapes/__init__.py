"""Stage 3, the shape check: every tensor's shape and parameter count inferred over the IR before
anything runs (inference.py), resource budgets (limits.py), and warnings about legal but suspicious
programs (lint.py)."""

"""Drawing from the checked IR, with no model built: the block structure as a tree (diagram.py),
Graphviz output (render.py) and the interactive HTML page (html.py)."""

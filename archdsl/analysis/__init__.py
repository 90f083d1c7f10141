"""Costs from the checked IR, with no model built: parameters, MACs and memory per layer (costs.py),
and the commands' views of them: `archdsl summary`, `diff`, `report`."""

"""`archdsl list`: the bundled networks, which every command (and archdsl.load) takes by name."""

from __future__ import annotations

import argparse
import json

from archdsl.analysis.library import bundled_entries, table


def cmd_list(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    entries = bundled_entries()
    if args.json:
        print(json.dumps({"networks": [e.as_dict() for e in entries]}))
    else:
        print(table(entries))
    return 0


def register(sub) -> None:
    p = sub.add_parser("list", help="the bundled networks: name, family, input, parameters, MACs",
                       description="The bundled networks. Every command takes one by name (`archdsl check resnet34`); "
                                   "a file of that name in the current folder wins, `bundled:resnet34` never.")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(run=cmd_list)

"""`archdsl schema NAME`: the JSON Schema of a JSON output (summary, diff, diagnostic, list)."""

from __future__ import annotations

import argparse
import json

SCHEMA_NAMES = ("summary", "diff", "diagnostic", "list")  # archdsl.schemas.SCHEMAS, without importing pydantic


def cmd_schema(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from archdsl.schemas import SCHEMAS

    print(json.dumps(SCHEMAS[args.name].model_json_schema(), indent=2))
    return 0


def register(sub) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of a --json output: " + ", ".join(SCHEMA_NAMES))
    p.add_argument("name", choices=SCHEMA_NAMES,
                   help="summary (summary --json), diff (diff --json), diagnostic (each line of check --json), "
                        "list (list --json)")
    p.set_defaults(run=cmd_schema)

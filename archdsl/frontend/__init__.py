"""Stage 1, the front end: `.arch` text -> AST.

The grammar (grammars/archdsl.lark) runs as LALR(1) tables Lark builds ahead (_parse_tables.py,
tools/generate_parser.py), read by lalr.py; parser.py turns its trees into the AST (ast.py) and
resolves `use`; syntax_errors.py words the parser's errors; expr.py evaluates the AST's
expressions; formatter.py is `archdsl fmt`.
"""

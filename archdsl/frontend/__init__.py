"""Stage 1, the front end: `.arch` text -> AST.

The grammar (grammars/archdsl.lark) runs as Lark's generated stand-alone parser
(_lark_standalone.py); parser.py turns its trees into the AST (ast.py) and resolves `use`;
syntax_errors.py words Lark's errors; expr.py evaluates the AST's expressions; formatter.py is
`archdsl fmt`.
"""

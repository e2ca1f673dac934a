"""Watch rules: parse (query.py), entities (entities.py), compile once and match (engine.py)."""

from monitor.match.engine import (
    Clause,
    Document,
    Explanation,
    RuleSet,
    compile_rules,
    highlight,
    make_snippet,
    render_explanation,
)
from monitor.match.query import parse_query

__all__ = [
    "Clause",
    "Document",
    "Explanation",
    "RuleSet",
    "compile_rules",
    "highlight",
    "make_snippet",
    "parse_query",
    "render_explanation",
]

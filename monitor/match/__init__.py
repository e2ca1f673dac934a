"""Watch rules: parse (query.py), entities (entities.py), compile once and match (engine.py)."""

from monitor.config import Config
from monitor.errors import ConfigError, MatchError
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
    "compile_config_rules",
    "compile_rules",
    "highlight",
    "make_snippet",
    "parse_query",
    "render_explanation",
]


def compile_config_rules(config: Config) -> RuleSet:
    """All rules of a config compiled once; a bad rule is a ConfigError pointing at its ``query:`` line, and
    when several are bad, one error lists them all (each rule is then compiled alone to find the others).
    (Here rather than in pipeline, so that ``check`` imports no HTTP client, parser or notifier.)"""
    try:
        return compile_rules(config.rules, config.entities)
    except MatchError as first:
        errors = [first]
        for rule in config.rules:
            try:
                compile_rules([rule], config.entities)
            except MatchError as e:
                if e.rule != first.rule:
                    errors.append(e)
    located = [_located(config, e) for e in errors]
    head, rest = located[0], located[1:]
    if rest:
        head.message += "".join(f"\n{e}" for e in rest) + f"\n({len(located)} rules are invalid)"
    raise head


def _located(config: Config, error: MatchError) -> ConfigError:
    index = next((i for i, r in enumerate(config.rules) if r.name == error.rule), None)
    where = config.locate("rules", index, "query") if index is not None else config.locate("rules")
    path, _, line = where.rpartition(":")
    return ConfigError(
        str(error),
        path=path or where,
        line=int(line) if line.isdigit() else None,
        key=f"rules[{index}].query" if index is not None else "rules",
    )

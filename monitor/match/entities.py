"""Entities: a name standing for a list of aliases (``@APEC`` → APEC, Asia-Pacific Economic Cooperation).

The entity's own name is one of its aliases. An alias is a word or phrase and may end in ``*``; short
all-capital aliases (APEC, REE, US) match case-sensitively so that "us" is not "US".
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from monitor.config import EntityConfig
from monitor.match.text import Unit, analyse_term


def resolve_entity(name: str, entities: Mapping[str, EntityConfig]) -> str | None:
    """The configured name for ``name``: exact first, then ignoring case and hyphens."""
    if name in entities:
        return name
    wanted = _loose(name)
    for known in entities:
        if _loose(known) == wanted:
            return known
    return None


def suggest_entity(name: str, entities: Mapping[str, EntityConfig]) -> str:
    close = difflib.get_close_matches(name, list(entities), n=1)
    if close:
        return f"@{_quote(close[0])} (the closest known entity)"
    if not entities:
        return "an entity defined under entities: (none are; include a pack from config/entities/)"
    listed = ", ".join("@" + _quote(e) for e in sorted(entities)[:8])
    return f"one of {listed}{' ...' if len(entities) > 8 else ''}"


def entity_aliases(name: str, entity: EntityConfig) -> list[tuple[str, tuple[Unit, ...]]]:
    """(alias text, units) for the name and every alias, duplicates dropped."""
    out: list[tuple[str, tuple[Unit, ...]]] = []
    seen: set[tuple[Unit, ...]] = set()
    for alias in (name, *entity.aliases):
        text = alias.strip()
        prefix = text.endswith("*")
        units = analyse_term(text.rstrip("*"), prefix=prefix, acronyms=True)
        if units and units not in seen:
            seen.add(units)
            out.append((text, units))
    return out


def _loose(name: str) -> str:
    return " ".join(name.replace("-", " ").casefold().split())


def _quote(name: str) -> str:
    return f'"{name}"' if not name.replace("-", "").replace("_", "").isalnum() else name

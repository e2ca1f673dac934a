"""Every example in docs/rules.md runs: rule blocks match as marked, error blocks print what they show."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from monitor.config import EntityConfig, RuleConfig, load_config
from monitor.errors import MatchError
from monitor.match import Document, compile_rules

DOC = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
_BLOCK = re.compile(r"^```(\S*)\n(.*?)^```", re.M | re.S)
_META = re.compile(r"^\[(title|lang|tag|feed): ([^\]]*)\]\s*")


def blocks(kind: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(DOC.read_text(encoding="utf-8")) if lang == kind]


def doc_entities() -> dict[str, EntityConfig]:
    (entities,) = [b for b in blocks("yaml") if b.startswith("# entities used by the examples")]
    data = YAML(typ="safe").load(entities)["entities"]
    return {name: EntityConfig(**spec) for name, spec in data.items()}


def examples() -> list[tuple[str, str, bool]]:
    """(query, text with [field: ...] prefixes, expected) for every ✓/✗ line of every rule block."""
    out: list[tuple[str, str, bool]] = []
    for body in blocks("rule"):
        query, *lines = body.rstrip("\n").split("\n")
        cases: list[list[object]] = []
        for line in lines:
            stripped = line.strip()
            if stripped[:1] in ("✓", "✗"):
                cases.append([stripped[0] == "✓", stripped[1:].strip()])
            elif cases:  # a continuation line of a multi-paragraph text
                cases[-1][1] = f"{cases[-1][1]}\n{stripped}"
        out += [(query, str(text), bool(expected)) for expected, text in cases]
    return out


def document(spec: str) -> Document:
    fields: dict[str, str] = {}
    while (m := _META.match(spec)) is not None:
        fields[m.group(1)] = m.group(2)
        spec = spec[m.end() :]
    return Document(
        title=fields.get("title", ""),
        text=spec,
        feed=fields.get("feed", ""),
        tags=(fields["tag"],) if "tag" in fields else (),
        lang=fields.get("lang"),
    )


EXAMPLES = examples()


def test_the_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 30 and len(blocks("rule-error")) >= 3


@pytest.mark.parametrize(("query", "text", "expected"), EXAMPLES)
def test_rule_example(query: str, text: str, expected: bool) -> None:
    rules = compile_rules([RuleConfig(name="example", query=query)], doc_entities())
    assert bool(rules.match(document(text))) is expected


@pytest.mark.parametrize("body", blocks("rule-error"))
def test_error_example(body: str) -> None:
    query, message = body.rstrip("\n").split("\n", 1)
    with pytest.raises(MatchError) as info:
        compile_rules([RuleConfig(name="example", query=query)], doc_entities())
    assert str(info.value) == message


def test_options_example_loads(tmp_path: Path) -> None:
    (options,) = [b for b in blocks("yaml") if b.startswith("rules:")]
    path = tmp_path / "monitor.yaml"
    entities = next(b for b in blocks("yaml") if b.startswith("# entities used by the examples"))
    path.write_text(entities + options, encoding="utf-8")
    config = load_config(path)
    rules = compile_rules(config.rules, config.entities)
    article = Document(
        "Japan and US sign rare earths pact",
        "Tokyo and Washington agreed on neodymium supplies.",
        feed="NHK Business",
        tags=("japan",),
        lang="en",
    )
    assert [m.rule for m in rules.match(article)] == ["rare-earth-deals"]
    assert rules.match(article)[0].priority == "high"

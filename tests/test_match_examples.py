"""The shipped example rules and entity packs: they load, compile, and do what they claim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.config import RuleConfig, load_config
from monitor.match import Document, RuleSet, compile_rules
from tests.conftest import corpus_path

CONFIG = Path(__file__).resolve().parents[1] / "config"
PACKS = ("countries.yaml", "critical-minerals.yaml", "international-bodies.yaml")
# Floors a little under the measured figures (docs/rules.md has the table), so a regression fails.
FLOORS = {"gold": (0.75, 0.80), "copper": (0.80, 0.95), "crude": (0.70, 0.84)}


def test_reuters_topic_rules_precision_and_recall(capsys: pytest.CaptureFixture[str]) -> None:
    path = corpus_path("reuters21578", "reuters21578.jsonl")
    config = load_config(CONFIG / "examples" / "reuters-topics.yaml")
    rules = compile_rules(config.rules, config.entities)
    counts = {name: [0, 0, 0] for name in rules.rule_names}  # tp, fp, fn
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            story = json.loads(line)
            if story["topics_attr"] != "YES":
                continue
            found = {m.rule for m in rules.match(Document(title=story["title"], text=story["body"]))}
            for name, c in counts.items():
                labelled = name in story["topics"]
                c[0] += labelled and name in found
                c[1] += not labelled and name in found
                c[2] += labelled and name not in found
    with capsys.disabled():
        print("\n| topic | precision | recall | tp | fp | fn |\n|---|---:|---:|---:|---:|---:|")
        for name, (tp, fp, fn) in counts.items():
            print(f"| {name} | {tp / (tp + fp):.3f} | {tp / (tp + fn):.3f} | {tp} | {fp} | {fn} |")
    for name, (tp, fp, fn) in counts.items():
        precision, recall = tp / (tp + fp), tp / (tp + fn)
        assert precision >= FLOORS[name][0] and recall >= FLOORS[name][1], (name, precision, recall)


@pytest.mark.parametrize("pack", PACKS)
def test_entity_packs_load_through_include_and_compile(tmp_path: Path, pack: str) -> None:
    main = tmp_path / "monitor.yaml"
    main.write_text(f"include: [{CONFIG / 'entities' / pack}]\nrules: []\n", encoding="utf-8")
    config = load_config(main)
    assert len(config.entities) >= 10
    # every entity compiles (an alias that analyses to nothing or breaks the parser would fail here)
    names = list(config.entities)
    queries = [RuleConfig(name=f"r{i}", query=f'@"{name}"') for i, name in enumerate(names)]
    assert compile_rules(queries, config.entities).rule_names


@pytest.fixture(scope="module")
def pack_rules(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    main = tmp_path_factory.mktemp("packs") / "monitor.yaml"
    includes = ", ".join(str(CONFIG / "entities" / p) for p in PACKS)
    main.write_text(
        f"include: [{includes}]\n"
        "rules:\n"
        "  - {name: japan, query: '@Japan'}\n"
        "  - {name: us, query: '@\"United States\"'}\n"
        '  - {name: minerals, query: \'@"rare earths" OR @"critical minerals" OR @lithium OR @graphite\'}\n'
        "  - {name: apec, query: '@APEC'}\n"
        "  - {name: g7, query: '@G7 OR @G20'}\n"
        "  - {name: opec, query: '@OPEC OR @IEA OR @IMF OR @WTO OR @ASEAN'}\n",
        encoding="utf-8",
    )
    config = load_config(main)
    return compile_rules(config.rules, config.entities)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Officials in Tokyo said", {"japan"}),
        ("Japanese exporters", {"japan"}),
        ("日本政府は", {"japan"}),
        ("Washington imposed tariffs", {"us"}),
        ("the U.S. economy", {"us"}),
        ("let us go to the United States", {"us"}),
        ("tell us more", set()),
        ("rare-earth magnets", {"minerals"}),
        ("neodymium prices", {"minerals"}),
        ("レアアース輸出規制", {"minerals"}),
        ("critical-minerals deal on spodumene", {"minerals"}),
        ("APEC首脳会議", {"apec"}),
        ("the Asia-Pacific Economic Cooperation forum", {"apec"}),
        ("G-7 finance ministers", {"g7"}),
        ("the Group of 20 met", {"g7"}),
        ("OPEC+ cut output", {"opec"}),
        ("the International Energy Agency said", {"opec"}),
        ("imf is not IMF", {"opec"}),
        ("asean in lower case", set()),
    ],
)
def test_packs_match_metonyms_demonyms_and_full_names(pack_rules: RuleSet, text: str, expected: set[str]) -> None:
    assert {m.rule for m in pack_rules.match(Document(title="", text=text))} == expected

"""`news-monitor test-rule` and `check` on rules: verdict, clauses, snippet, exit codes, error location."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main

CONFIG = """\
entities:
  APEC: {aliases: [Asia-Pacific Economic Cooperation]}
rules:
  - name: apec-trade
    query: '@APEC NEAR/5 (summit OR trade) -cancelled'
  - name: gold
    query: gold
    min_mentions: 2
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_test_rule_match(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config", str(config), "test-rule", "apec-trade", "--text", "APEC leaders discussed trade."])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("MATCH")
    assert "✓ @APEC NEAR/5 (summit OR trade)" in out and "✓ -cancelled" in out
    assert "'APEC' (@APEC) in text at 0-4" in out
    assert "snippet: [APEC] leaders discussed [trade]." in out


def test_test_rule_no_match_exits_1(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config", str(config), "test-rule", "gold", "--text", "Gold once."])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("NO MATCH") and "✗ min_mentions: 2 (found 1)" in out


def test_test_rule_reads_an_html_file(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "page.html"
    paragraph = "Gold rose again as gold miners reported higher output from their mines this quarter. " * 4
    page.write_text(
        f"<html><head><title>Gold rally</title></head><body><article><h1>Gold rally</h1>"
        f"<p>{paragraph}</p><p>{paragraph}</p></article></body></html>",
        encoding="utf-8",
    )
    code = main(["--config", str(config), "test-rule", "gold", "--file", str(page)])
    assert code == 0, capsys.readouterr()
    assert "MATCH" in capsys.readouterr().out


def test_test_rule_unknown_rule_is_a_usage_error(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config), "test-rule", "nope", "--text", "x"]) == 2
    assert "no rule named 'nope'" in capsys.readouterr().err


def test_check_points_at_the_bad_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(CONFIG + "  - name: broken\n    query: 'gold AND (silver OR'\n", encoding="utf-8")
    assert main(["--config", str(path), "check", "-q"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:10:" in err and "rule 'broken', column 20" in err
    assert "\n    gold AND (silver OR\n" + " " * (4 + 19) + "^" in err


def test_check_lists_every_bad_rule_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "monitor.yaml"
    broken = "  - name: broken\n    query: 'gold AND (silver OR'\n  - name: lonely\n    query: 'lithium NEAR/5'\n"
    path.write_text(CONFIG + broken, encoding="utf-8")
    assert main(["--config", str(path), "check", "-q"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:10: rules[" in err and "rule 'broken', column 20" in err
    assert f"{path}:12: rules[" in err and "rule 'lonely', column 9: NEAR/5 needs an operand on each side" in err
    assert "(2 rules are invalid)" in err

"""Every command of the DESIGN section 8 contract exists and has help (as sqlite-utils tests its CLI)."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from monitor.cli import build_parser

CONTRACT = [
    "run",
    "once",
    "check",
    "test-rule",
    "replay",
    "feeds",
    "matches",
    "search",
    "status",
    "notify-test",
    "prune",
]
FEEDS = ["list", "import", "export", "discover"]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_contract_commands_exist_with_help() -> None:
    commands = _subcommands(build_parser())
    assert set(CONTRACT) <= set(commands)
    assert set(FEEDS) <= set(_subcommands(commands["feeds"]))
    for name, sub in commands.items():
        assert sub.description, f"{name} has no help text"


@pytest.mark.parametrize("command", CONTRACT)
def test_help_runs(command: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "monitor", command, "--help"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert command in run.stdout


def test_bad_usage_exits_2() -> None:
    run = subprocess.run([sys.executable, "-m", "monitor", "frobnicate"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2

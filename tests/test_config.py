"""Config loading: line-numbered errors, ${VAR} expansion, includes, masking, and the documented example."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from monitor.config import Config, find_config, load_config, mask_url, parse_duration, resolve_database
from monitor.errors import ConfigError

from .conftest import ROOT

EXAMPLE = ROOT / "config" / "monitor.yaml"


def write(tmp_path: Path, text: str, name: str = "monitor.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


BASE = """\
targets:
  team-chat: json://127.0.0.1:9/hook
  me: mailto://127.0.0.1:9?to=me@localhost
feeds:
  - {url: "https://news.example/rss", name: Example}
rules:
  - name: minerals
    query: lithium
    notify: [team-chat]
"""


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE, env={})
    assert config.feeds and config.rules and config.targets


def _fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(name)
        for arg in (info.annotation, *getattr(info.annotation, "__args__", ())):
            for inner in (arg, *getattr(arg, "__args__", ())):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    names |= _fields(inner)
    return names


def test_every_config_field_is_documented_in_the_example() -> None:
    """Like datasette's test_docs: a new setting must appear (as a key) in config/monitor.yaml."""
    text = EXAMPLE.read_text(encoding="utf-8")
    keys = set(re.findall(r"(?m)^[\s-]*#?\s*([a-z_]+):", text)) | set(re.findall(r"[{,]\s*([a-z_]+):", text))
    missing = sorted(_fields(Config) - keys)
    assert not missing, f"config fields missing from config/monitor.yaml: {missing}"


def test_unknown_target_names_file_line_key_and_choices(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("notify: [team-chat]", "notify: [team-chta]"))
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == f"{path}:9: rules[0].notify[0]: unknown target 'team-chta' (known: me, team-chat)"


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    path = write(tmp_path, "poll:\n  intervl: 5m\n" + BASE)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message.startswith(f"{path}:2: poll.intervl: unknown key 'intervl'; did you mean 'interval'?")


def test_bad_duration_and_yaml_syntax(tmp_path: Path) -> None:
    path = write(tmp_path, "poll:\n  interval: soon\n" + BASE)
    with pytest.raises(ConfigError, match=r":2: poll.interval: 'soon' is not a duration"):
        load_config(path, env={})
    path = write(tmp_path, "feeds: [\n  - url: x\n")
    with pytest.raises(ConfigError, match="YAML syntax"):
        load_config(path, env={})


def test_duplicate_rule_and_missing_key(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "  - name: minerals\n    query: cobalt\n")
    with pytest.raises(ConfigError, match=r":10: rules\[1\]\.name: duplicate rule name 'minerals'"):
        load_config(path, env={})
    path = write(tmp_path, BASE + "  - name: other\n")
    with pytest.raises(ConfigError, match=r":10: rules\[1\]: required key 'query' is missing"):
        load_config(path, env={})


def test_env_expansion_and_masked_dump(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("json://127.0.0.1:9/hook", "json://127.0.0.1:9/${HOOK_TOKEN}"))
    config = load_config(path, env={"HOOK_TOKEN": "s3cr3t-token"})
    assert config.targets["team-chat"].urls == ["json://127.0.0.1:9/s3cr3t-token"]
    assert "s3cr3t-token" in config.secrets
    assert "s3cr3t-token" not in config.dump()
    whole_url = write(tmp_path, BASE.replace("json://127.0.0.1:9/hook", "${HOOK}"), "whole.yaml")
    whole = load_config(whole_url, env={"HOOK": "json://h/t"})
    assert "- json://****" in whole.dump()
    with pytest.raises(ConfigError, match="environment variable HOOK_TOKEN is not set"):
        load_config(path, env={})


def test_url_password_is_masked() -> None:
    assert mask_url("mailtos://alerts:hunter2@mail.example.org?to=me@example.org") == (
        "mailtos://alerts:****@mail.example.org?to=me@example.org"
    )
    assert "abc" not in mask_url("tgram://bot/chat?token=abc")


def test_include_errors_point_into_the_included_file(tmp_path: Path) -> None:
    write(tmp_path, "entities:\n  APEC:\n    aliases: [APEC]\n  G7:\n    alias: [G7]\n", "pack.yaml")
    path = write(tmp_path, "include: [pack.yaml]\n" + BASE)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value).startswith(f"{tmp_path / 'pack.yaml'}:5: entities.G7.alias: unknown key 'alias'")
    write(tmp_path, "entities:\n  APEC:\n    aliases: [APEC]\n", "pack.yaml")
    assert "APEC" in load_config(path, env={}).entities


def test_durations() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration(30) == timedelta(seconds=30)
    with pytest.raises(ValueError):
        parse_duration("-5m")


def test_paths(tmp_path: Path) -> None:
    assert find_config("x.yaml", env={}) == Path("x.yaml")
    assert find_config(None, env={"NEWS_MONITOR_CONFIG": "/etc/nm.yaml"}) == Path("/etc/nm.yaml")
    assert resolve_database("data/m.db", tmp_path / "monitor.yaml") == tmp_path / "data" / "m.db"


def test_check_command_exit_codes(tmp_path: Path) -> None:
    good = write(tmp_path, BASE)
    run = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(good), "check"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "minerals" in run.stdout
    bad = write(tmp_path, BASE.replace("notify: [team-chat]", "notify: [nobody]"), "bad.yaml")
    run = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(bad), "check"], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert f"{bad}:9: rules[0].notify[0]: unknown target 'nobody'" in run.stderr


def test_forget_lines_keeps_the_config_and_names_the_file_alone(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"database: {tmp_path / 'm.db'}\ntargets: {{chat: 'json://127.0.0.1:9/'}}\nrules:\n"
        "  - name: watch\n    query: lithium\n    notify: [chat]\n",
    )
    config = load_config(path, env={})
    assert config.locate("rules", 0, "query") == f"{path}:5"
    config.forget_lines()
    assert config.locate("rules", 0, "query") == str(path)
    assert [r.name for r in config.rules] == ["watch"] and config.secrets == load_config(path, env={}).secrets

"""The settings registry: `Config`'s fields are the settings, so a misspelt one is a type error, and
flags, env vars and defaults resolve in that order."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from lambdad.config import SETTINGS, Config, PortRanges, resolve

SRC = Path(__file__).resolve().parents[2] / "src"


def test_a_misspelt_setting_is_a_type_error(tmp_path: Path) -> None:
    snippet = tmp_path / "uses_config.py"
    snippet.write_text(
        "from lambdad.config import resolve\n"
        "cfg = resolve()\n"
        "port: int = cfg.port\n"  # fine
        "print(cfg.missing_name)\n"  # line 4
        "host: int = cfg.host\n")  # line 5: a str
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
         "--config-file", "/dev/null", str(snippet)],
        capture_output=True, text=True, env={"MYPYPATH": str(SRC), "PATH": "/usr/bin:/bin"}, check=False)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert 'uses_config.py:4: error: "Config" has no attribute "missing_name"' in out
    assert "uses_config.py:5: error: Incompatible types in assignment" in out
    assert "uses_config.py:3" not in out


def test_flag_beats_env_var_beats_default() -> None:
    env = {"LAMBDAD_PORT": "9100", "LAMBDAD_REGION": "eu-west-1", "LAMBDAD_AUTH": "off"}
    cfg = resolve({"port": "9200", "region": None}, env)
    assert cfg.port == 9200  # the flag, parsed by the setting's parser
    assert cfg.region == "eu-west-1"  # no flag given: the env var
    assert cfg.auth is False
    assert cfg.host == "127.0.0.1"  # neither: the default
    assert resolve({}, {}) == Config()


def test_every_setting_is_a_field_with_its_flag_and_env_var() -> None:
    names = [f.name for f in dataclasses.fields(Config)]
    assert [s.name for s in SETTINGS] == names
    port = next(s for s in SETTINGS if s.name == "alb_listener_ports")
    assert port.flag == "--alb-listener-ports" and port.env_var == "LAMBDAD_ALB_LISTENER_PORTS"
    assert isinstance(port.default, PortRanges) and port.kind("80,8000-8999") == PortRanges(((80, 80), (8000, 8999)))


def test_unknown_settings_and_assignment_are_refused() -> None:
    with pytest.raises(TypeError, match="no such settings: prot"):
        resolve({"prot": "1"}, {})
    cfg = resolve({}, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.port = 1  # type: ignore[misc]
    assert cfg.replace(port=1).port == 1 and cfg.port == 8900

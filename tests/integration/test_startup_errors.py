"""Bad settings end in one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from devtools.sandbox import free_tcp_port
from tests.data_keys import TEST_KEYS

ROOT = Path(__file__).resolve().parents[2]


def run_hotline(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`hotline run` with the tests' data key (without one it stops before anything else, which
    tests/integration/test_sealed_at_rest.py checks) and `env_overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({"HOTLINE_STORAGE_DATA_KEY": base64.b64encode(TEST_KEYS.keys[TEST_KEYS.current_id]).decode(),
                "HOTLINE_STORAGE_DATA_KEY_ID": TEST_KEYS.current_id})
    env.update(env_overrides)
    return subprocess.run([sys.executable, "-m", "hotline.cli", *args, "run"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hotline: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_unknown_setting_from_environment_is_named(sqlite_url: str) -> None:
    result = run_hotline({"HOTLINE_DATABASE_URL": sqlite_url, "HOTLINE_ARI_COLOUR": "blue"})
    assert_one_line_error(result, "ari.colour", "unknown setting")


def test_unknown_setting_in_config_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "hotline.toml"
    config.write_text('[redis]\nurl = "redis://127.0.0.1:6379/0"\npool = 3\n')
    result = run_hotline({}, "--config", str(config))
    assert_one_line_error(result, "redis.pool", "unknown setting")


def test_malformed_database_url_is_named() -> None:
    result = run_hotline({"HOTLINE_DATABASE_URL": "not a url"})
    assert_one_line_error(result, "database.url")


def test_unsupported_database_driver_is_named() -> None:
    result = run_hotline({"HOTLINE_DATABASE_URL": "mysql://root@127.0.0.1/test"})
    assert_one_line_error(result, "database.url", "mysql")


def test_unreachable_database_is_one_line() -> None:
    port = free_tcp_port()
    result = run_hotline({"HOTLINE_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{port}/x"})
    assert_one_line_error(result, "unreachable", str(port))


def test_unreachable_asterisk_is_one_line(sqlite_url: str) -> None:
    port = free_tcp_port()
    result = run_hotline({"HOTLINE_DATABASE_URL": sqlite_url,
                          "HOTLINE_ARI_URL": f"http://127.0.0.1:{port}",
                          "HOTLINE_ARI_PASSWORD": uuid.uuid4().hex,
                          "HOTLINE_ARI_CONNECT_TIMEOUT": "2"})
    assert_one_line_error(result, "ARI", "unreachable", str(port))


@pytest.mark.parametrize("password", [None, "hotline"])
def test_empty_or_known_ari_password_is_refused(sqlite_url: str, password: str | None) -> None:
    """The shipped configuration has no ARI password, and the samples' is refused: whoever
    reaches Asterisk's HTTP port with it could list, snoop and place calls (issue 25)."""
    env = {"HOTLINE_DATABASE_URL": sqlite_url, "HOTLINE_ARI_URL": f"http://127.0.0.1:{free_tcp_port()}"}
    if password is not None:
        env["HOTLINE_ARI_PASSWORD"] = password
    assert_one_line_error(run_hotline(env), "ari.password", "known default")


def test_unreachable_redis_is_one_line(sqlite_url: str) -> None:
    port = free_tcp_port()
    result = run_hotline({"HOTLINE_DATABASE_URL": sqlite_url,
                          "HOTLINE_REDIS_URL": f"redis://127.0.0.1:{port}/0"})
    assert_one_line_error(result, "Redis", "unreachable")


@pytest.mark.parametrize("value", ["-1", "port"])
def test_invalid_port_is_named(value: str) -> None:
    result = run_hotline({"HOTLINE_HTTP_PORT": value})
    assert_one_line_error(result, "http.port")

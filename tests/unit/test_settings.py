from pathlib import Path

import pytest

from hotline.settings import load_settings
from kernel.errors import ConfigError


def test_defaults_load_from_the_shipped_file() -> None:
    settings = load_settings(environ={})
    assert settings.ari.app == "hotline"
    assert settings.database.url.startswith("sqlite+aiosqlite://")


def test_environment_overrides_a_key() -> None:
    settings = load_settings(environ={"HOTLINE_ARI_URL": "http://10.0.0.5:8088/",
                                      "HOTLINE_HTTP_PORT": "9000"})
    assert settings.ari.url == "http://10.0.0.5:8088"
    assert settings.http.port == 9000


@pytest.mark.parametrize(("env", "key"), [
    ({"HOTLINE_ARI_COLOUR": "x"}, "ari.colour"),
    ({"HOTLINE_NOSUCH_THING": "x"}, "HOTLINE_NOSUCH_THING"),
    ({"HOTLINE_DATABASE_URL": "oracle://x"}, "database.url"),
    ({"HOTLINE_REDIS_URL": "http://x"}, "redis.url"),
    ({"HOTLINE_NODE_ID": "node one"}, "node.id"),
    ({"HOTLINE_ARI_CONNECT_TIMEOUT": "0"}, "ari.connect_timeout"),
])
def test_bad_values_name_their_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=env)
    assert caught.value.key == key
    assert key in str(caught.value)


def test_missing_and_malformed_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.toml", environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[ari\nurl=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken, environ={})

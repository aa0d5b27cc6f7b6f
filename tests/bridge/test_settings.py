"""Config: validation with key paths, every problem at once, secrets from env and files."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from bridge.cli.example import example_toml
from bridge.settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gridbridge.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_valid() -> None:
    settings = load_settings(None, env={})
    assert settings.probe.interval_s == 30
    assert settings.mqtt.root == "gridbridge"
    assert settings.mqtt.url == ""  # embedded broker


def test_five_mistakes_give_five_messages_with_key_paths(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[probe]
interval_s = 0
concurrency = "many"

[mqtt]
colour = "blue"

[http]
listen = "8080"

[workorders]
debounce_s = -5
""",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    messages = sorted(str(p) for p in caught.value.problems)
    assert messages == [
        "http.listen: must be HOST:PORT, e.g. 127.0.0.1:8080",
        "mqtt.colour: unknown key",
        "probe.concurrency: input should be a valid integer, unable to parse string as an integer",
        "probe.interval_s: must be ≥ 1",
        "workorders.debounce_s: must be ≥ 0",
    ]


def test_cross_field_rule_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[probe]\ninterval_s = 5\ntimeout_s = 10\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert [str(p) for p in caught.value.problems] == [
        "probe.timeout_s: must be smaller than probe.interval_s"
    ]


def test_toml_syntax_error_is_one_clear_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "[probe\ninterval_s = 5\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert "not valid TOML" in str(caught.value)
    assert "line 1" in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_secret_from_env_wins_and_prints_as_stars(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\npassword = "inline-pw"\n')
    settings = load_settings(path, env={"GRIDBRIDGE_MQTT_PASSWORD": "env-pw"})
    assert settings.mqtt.password is not None
    assert settings.mqtt.password.get_secret_value() == "env-pw"
    assert str(settings.mqtt.password) == "***"
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "env-pw" not in text
        assert "inline-pw" not in text


def test_secret_from_file(tmp_path: Path) -> None:
    (tmp_path / "db.pw").write_text("file-pw\n", encoding="utf-8")
    path = write(tmp_path, '[store]\npassword_file = "db.pw"\n')
    settings = load_settings(path, env={})
    assert settings.store.password is not None
    assert settings.store.password.get_secret_value() == "file-pw"


def test_unreadable_secret_file_is_a_problem_with_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[store]\npassword_file = "missing.pw"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert str(caught.value.problems[0]).startswith("store.password_file: cannot read")


def test_example_file_is_current_and_valid() -> None:
    example = ROOT / "config" / "gridbridge.example.toml"
    assert example.read_text(encoding="utf-8") == example_toml(), (
        "regenerate: gridbridge config example > config/gridbridge.example.toml"
    )
    assert load_settings(example, env={}) == Settings()


def test_example_documents_every_key() -> None:
    text = example_toml()

    def documented(name: str, section: type[BaseModel]) -> None:
        assert f"\n[{name}]" in text
        for key, field in section.model_fields.items():
            kind = field.annotation
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                documented(f"{name}.{key}", kind)  # a nested table: [frames.vqd]
            else:
                assert f"\n{key} = " in text or f"\n# {key} = " in text, f"{name}.{key}"

    for name, field in Settings.model_fields.items():
        assert isinstance(field.annotation, type)
        documented(name, field.annotation)

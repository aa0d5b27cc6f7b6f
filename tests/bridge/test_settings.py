"""Config: validation with key paths, every problem at once, secrets from env and files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from bridge.cli.example import example_toml, table_item_model
from bridge.cli.main import main
from bridge.settings import ConfigError, Settings, load_settings
from bridge.workorders.model import EventKind

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


def test_a_verify_timeout_shorter_than_verification_is_refused(tmp_path: Path) -> None:
    # 2 healthy checks every 60 s cannot pass within 120 s: every 修复 would bounce.
    path = write(tmp_path, "[probe]\ninterval_s = 60\n[workorders]\nverify_timeout_s = 120\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    [problem] = caught.value.problems
    assert str(problem).startswith("workorders.verify_timeout_s: 120 s is too short")
    assert "use at least 180" in str(problem)
    ok = write(tmp_path, "[probe]\ninterval_s = 60\n[workorders]\nverify_timeout_s = 180\n")
    assert load_settings(ok, env={}).workorders.verify_timeout_s == 180


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
            item = table_item_model(field)
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                documented(f"{name}.{key}", kind)  # a nested table: [frames.vqd]
            elif item is not None:  # a list of tables, shown as a commented-out example
                assert f"\n# [[{name}.{key}]]\n" in text
                for sub in item.model_fields:
                    assert f"\n# {sub} = " in text or f"\n# # {sub} = " in text, sub
            else:
                assert f"\n{key} = " in text or f"\n# {key} = " in text, f"{name}.{key}"

    for name, field in Settings.model_fields.items():
        assert isinstance(field.annotation, type)
        documented(name, field.annotation)


# --- [[workorders.webhooks]] ---------------------------------------------------------------

WECOM_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-KEY-wecom"
DING_URL = "https://oapi.dingtalk.com/robot/send?access_token=TOKEN-ding-5f2e"
DING_SECRET = "SEC0123456789abcdefSECRET"
PLATFORM_URL = "https://10.20.0.5/api/gridbridge/events"


def webhooks_toml(tmp_path: Path) -> Path:
    (tmp_path / "wecom.url").write_text(WECOM_URL + "\n", encoding="utf-8")
    (tmp_path / "ding.secret").write_text(DING_SECRET, encoding="utf-8")
    return write(
        tmp_path,
        f"""
[workorders]
debounce_s = 120

[[workorders.webhooks]]
name = "crew-wecom"
kind = "wecom"
url_file = "wecom.url"

[[workorders.webhooks]]
name = "duty_dingtalk"
kind = "dingtalk"
url = "{DING_URL}"
secret_file = "ding.secret"
events = ["escalated"]

[[workorders.webhooks]]
name = "platform"
kind = "json"
url = "{PLATFORM_URL}"
timeout_s = 5
min_interval_s = 0
""",
    )


def test_webhook_targets_are_read_with_their_secrets(tmp_path: Path) -> None:
    hooks = load_settings(webhooks_toml(tmp_path), env={}).workorders.webhooks
    assert [(h.name, h.kind) for h in hooks] == [
        ("crew-wecom", "wecom"),
        ("duty_dingtalk", "dingtalk"),
        ("platform", "json"),
    ]
    crew, duty, platform = hooks
    assert crew.url is not None
    assert crew.url.get_secret_value() == WECOM_URL  # from the file, stripped
    assert crew.secret is None
    assert (crew.min_interval_s, crew.timeout_s, crew.events) == (3.5, 10.0, tuple(EventKind))
    assert duty.secret is not None
    assert duty.secret.get_secret_value() == DING_SECRET
    assert duty.events == (EventKind.ESCALATED,)
    assert (platform.timeout_s, platform.min_interval_s) == (5.0, 0.0)
    assert load_settings(None, env={}).workorders.webhooks == ()


def test_webhook_env_vars_win_per_target(tmp_path: Path) -> None:
    env = {
        "GRIDBRIDGE_WEBHOOK_CREW_WECOM_URL": "https://qyapi.weixin.qq.com/x?key=from-env",
        "GRIDBRIDGE_WEBHOOK_PLATFORM_SECRET": "hmac-from-env",
        "GRIDBRIDGE_WEBHOOK_NOBODY_URL": "https://example.invalid/",  # no such target: unused
    }
    crew, duty, platform = load_settings(webhooks_toml(tmp_path), env=env).workorders.webhooks
    assert crew.url is not None
    assert crew.url.get_secret_value().endswith("key=from-env")
    assert duty.url is not None
    assert duty.url.get_secret_value() == DING_URL
    assert platform.secret is not None
    assert platform.secret.get_secret_value() == "hmac-from-env"


def test_webhook_url_only_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[[workorders.webhooks]]\nname = "crew"\nkind = "wecom"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert [str(p) for p in caught.value.problems] == [
        "workorders.webhooks.0.url: required (url, url_file or the environment variable "
        "GRIDBRIDGE_WEBHOOK_CREW_URL)"
    ]
    [hook] = load_settings(path, env={"GRIDBRIDGE_WEBHOOK_CREW_URL": WECOM_URL}).workorders.webhooks
    assert hook.url is not None
    assert hook.url.get_secret_value() == WECOM_URL


def test_webhook_secrets_never_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDBRIDGE_WEBHOOK_PLATFORM_SECRET", "hmac-from-env")
    path = webhooks_toml(tmp_path)
    settings = load_settings(path, env={"GRIDBRIDGE_WEBHOOK_PLATFORM_SECRET": "hmac-from-env"})
    assert main(["config", "show", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)["workorders"]["webhooks"]
    assert [(h["name"], h["url"], h["secret"]) for h in shown] == [
        ("crew-wecom", "***", None),
        ("duty_dingtalk", "***", "***"),
        ("platform", "***", "***"),
    ]
    for text in (out, repr(settings), str(settings), settings.model_dump_json()):
        for secret in ("KEY-wecom", "TOKEN-ding", DING_SECRET, "10.20.0.5", "hmac-from-env"):
            assert secret not in text


def test_webhook_retry_timing_per_target(tmp_path: Path) -> None:
    table = '[[workorders.webhooks]]\nname = "crew"\nkind = "json"\nurl = "{}"\n{}'
    quick = write(tmp_path, table.format(PLATFORM_URL, "retry_first_s = 2\nretry_max_s = 60\n"))
    [hook] = load_settings(quick, env={}).workorders.webhooks
    assert (hook.retry_first_s, hook.retry_max_s) == (2, 60)
    wrong = write(tmp_path, table.format(PLATFORM_URL, "retry_first_s = 90\nretry_max_s = 60\n"))
    with pytest.raises(ConfigError) as caught:
        load_settings(wrong, env={})
    assert [str(p) for p in caught.value.problems] == [
        "workorders.webhooks.0: retry_max_s (60) must be at least retry_first_s (90)"
    ]


def test_webhook_names_must_be_unique(tmp_path: Path) -> None:
    table = '[[workorders.webhooks]]\nname = "{}"\nkind = "json"\nurl = "{}"\n'
    twice = write(tmp_path, table.format("crew", PLATFORM_URL) * 2)
    with pytest.raises(ConfigError) as caught:
        load_settings(twice, env={})
    assert [str(p) for p in caught.value.problems] == [
        "workorders.webhooks: the name 'crew' is used twice"
    ]
    alike = write(tmp_path, table.format("duty-a", PLATFORM_URL) + table.format("DUTY_A", DING_URL))
    with pytest.raises(ConfigError) as caught:
        load_settings(alike, env={})
    assert [str(p) for p in caught.value.problems] == [
        "workorders.webhooks: the names 'duty-a' and 'DUTY_A' are too alike "
        "(both use GRIDBRIDGE_WEBHOOK_DUTY_A_URL)"
    ]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://files.example/KEY-wecom",
        "qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY-wecom",
        "https://admin:KEY-wecom@10.1.2.3/hook",
        "https:///send?key=KEY-wecom",
        "https://qyapi.weixin.qq.com/send?key=KEY-wecom\nX-Injected: 1",
    ],
)
def test_a_bad_webhook_url_is_refused_without_showing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    path = write(tmp_path, '[[workorders.webhooks]]\nname = "crew"\nkind = "wecom"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={"GRIDBRIDGE_WEBHOOK_CREW_URL": url})
    [problem] = caught.value.problems
    assert problem.path == "workorders.webhooks.0.url"
    assert problem.message.startswith("must be http://HOST/… or https://HOST/…")
    assert "KEY-wecom" not in str(caught.value)
    (tmp_path / "crew.url").write_text(url, encoding="utf-8")
    from_file = write(
        tmp_path,
        '[[workorders.webhooks]]\nname = "crew"\nkind = "wecom"\nurl_file = "crew.url"\n',
    )
    assert main(["config", "check", "--config", str(from_file)]) == 2
    out, err = capsys.readouterr()
    assert "workorders.webhooks.0.url: must be" in out + err
    assert "KEY-wecom" not in out + err


def test_webhook_mistakes_are_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[workorders.webhooks]]
name = "crew wecom"
kind = "slack"
url = "https://example.invalid/hook"

[[workorders.webhooks]]
name = "duty"
kind = "dingtalk"
url_file = "missing.url"
events = []

[[workorders.webhooks]]
name = "crew2"
kind = "wecom"
url = "https://example.invalid/hook"
secret = "SEC-not-for-wecom"
""",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    messages = sorted(str(p) for p in caught.value.problems)
    assert messages[0] == "workorders.webhooks.0.kind: must be one of 'wecom', 'dingtalk' or 'json'"
    assert messages[1] == "workorders.webhooks.0.name: has characters that are not allowed here"
    # The unreadable file is the one problem of its URL (not also "url: required").
    assert messages[2].startswith("workorders.webhooks.1.events: ")
    assert messages[3].startswith("workorders.webhooks.1.url_file: cannot read ")
    assert messages[4] == (
        "workorders.webhooks.2.secret: 企业微信 robots are not signed; leave it out"
    )
    assert len(messages) == 5
    assert "SEC-not-for-wecom" not in str(caught.value)

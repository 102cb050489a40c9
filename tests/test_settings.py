"""Settings: defaults, parsing, clear errors, and the environment > .env > default order."""

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import Settings


def test_defaults_need_nothing():
    settings = Settings.from_mapping({})
    assert settings.catalog_db == Path("data/catalog.db")
    assert settings.state_db == Path("data/state.db")
    assert settings.telegram_api_base_url == "https://api.telegram.org"
    assert settings.allowed_user_ids == frozenset()
    assert not settings.model_enabled
    assert settings.telegram_download_limit == 20 * 1024 * 1024


def test_values_are_parsed():
    settings = Settings.from_mapping({
        "ADMIN_USER_IDS": "1, 2,3",
        "ALLOWED_CHAT_IDS": "-1001234",
        "SQL_TIMEOUT": "0.5",
        "VOICE_REPLIES": "on",
        "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/",
        "TELEGRAM_LOCAL_MODE": "true",
        "LOG_LEVEL": "debug",
        "OPENAI_API_KEY": "sk-test",
    })
    assert settings.admin_user_ids == frozenset({1, 2, 3})
    assert settings.allowed_chat_ids == frozenset({-1001234})
    assert settings.sql_timeout == 0.5
    assert settings.voice_replies is True
    assert settings.telegram_api_base_url == "http://127.0.0.1:8081"
    assert settings.telegram_download_limit == 2000 * 1024 * 1024
    assert settings.log_level == "DEBUG"
    assert settings.model_enabled


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ADMIN_USER_IDS", "abc", "ADMIN_USER_IDS must be comma-separated Telegram user ids"),
        ("ALLOWED_CHAT_IDS", "x1", "ALLOWED_CHAT_IDS must be comma-separated Telegram chat ids"),
        ("SQL_TIMEOUT", "soon", "SQL_TIMEOUT must be a number of seconds"),
        ("SQL_TIMEOUT", "0", "SQL_TIMEOUT must be greater than 0"),
        ("SQL_MAX_ROWS", "0", "SQL_MAX_ROWS must be at least 1"),
        ("VOICE_REPLIES", "maybe", "VOICE_REPLIES must be on or off"),
        ("GROUP_VOICE_MODE", "sometimes", "GROUP_VOICE_MODE must be one of reply, all, off"),
        ("OPENAI_BASE_URL", "localhost:8000", "OPENAI_BASE_URL must start with http"),
        ("CATALOG_DB", " ", "CATALOG_DB must be a file path"),
    ],
)
def test_malformed_values_are_explained(name, value, message):
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({name: value})
    assert message in str(caught.value)
    assert caught.value.exit_code == 2


def test_telegram_token_is_required_only_to_run_the_bot():
    settings = Settings.from_mapping({})
    with pytest.raises(ConfigError, match=r"TELEGRAM_BOT_TOKEN is not set: add it to \.env"):
        settings.require_telegram()
    Settings.from_mapping({"TELEGRAM_BOT_TOKEN": "1:x"}).require_telegram()


def test_webhook_needs_a_secret():
    settings = Settings.from_mapping(
        {"TELEGRAM_BOT_TOKEN": "1:x", "WEBHOOK_URL": "https://shop.example/hook"}
    )
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        settings.require_telegram()


def test_environment_wins_over_env_file(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_MODEL=from-file\nSQL_MAX_ROWS=7\n")
    monkeypatch.setenv("OPENAI_MODEL", "from-environment")
    monkeypatch.delenv("SQL_MAX_ROWS", raising=False)
    settings = Settings.load(env_file)
    assert settings.openai_model == "from-environment"
    assert settings.sql_max_rows == 7


def test_secrets_never_show_in_repr():
    settings = Settings.from_mapping(
        {"TELEGRAM_BOT_TOKEN": "123:SECRET", "OPENAI_API_KEY": "sk-SECRET"}
    )
    assert "SECRET" not in repr(settings)


def test_env_example_documents_every_setting():
    example = (Path(__file__).parent.parent / ".env.example").read_text()
    for name, _default, _doc in Settings.from_mapping({}).describe():
        assert f"{name}=" in example, f"{name} is missing from .env.example"


def test_readme_documents_every_setting():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for name, _default, _doc in Settings.from_mapping({}).describe():
        assert f"`{name}`" in readme, f"{name} is missing from README.md"

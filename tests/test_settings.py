"""Settings: defaults, parsing, clear errors, and the environment > .env > default order."""

import os
from pathlib import Path

import pytest

from bot.__main__ import main
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
        ("ADMIN_USER_IDS", "abc",
         "ADMIN_USER_IDS debe ser una lista de ids de usuario de Telegram"),
        ("ALLOWED_CHAT_IDS", "x1",
         "ALLOWED_CHAT_IDS debe ser una lista de ids de chat de Telegram"),
        ("SQL_TIMEOUT", "soon", "SQL_TIMEOUT debe ser un número de segundos"),
        ("SQL_TIMEOUT", "0", "SQL_TIMEOUT debe ser mayor que 0"),
        ("SQL_MAX_ROWS", "0", "SQL_MAX_ROWS debe ser al menos 1"),
        ("VOICE_REPLIES", "maybe", "VOICE_REPLIES debe ser on u off"),
        ("GROUP_VOICE_MODE", "sometimes", "GROUP_VOICE_MODE debe ser uno de: reply, all, off"),
        ("OPENAI_BASE_URL", "localhost:8000", "OPENAI_BASE_URL debe empezar por http"),
        ("CATALOG_DB", " ", "CATALOG_DB debe ser la ruta de un archivo"),
    ],
)
def test_malformed_values_are_explained(name, value, message):
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({name: value})
    assert message in str(caught.value)
    assert caught.value.exit_code == 2


def test_telegram_token_is_required_only_to_run_the_bot():
    settings = Settings.from_mapping({})
    with pytest.raises(ConfigError, match=r"Falta TELEGRAM_BOT_TOKEN: ponlo en \.env"):
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


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WEBHOOK_PORT", "99999", "WEBHOOK_PORT debe ser un puerto TCP de 1 a 65535; recibí 99999"),
        ("WEBHOOK_PORT", "65536", "WEBHOOK_PORT debe ser un puerto TCP de 1 a 65535"),
        ("WEBHOOK_PORT", "0", "WEBHOOK_PORT debe ser al menos 1"),
        ("WEBHOOK_PORT", "http", "WEBHOOK_PORT debe ser un número entero"),
        ("TELEGRAM_BOT_TOKEN", "abc", "TELEGRAM_BOT_TOKEN no parece un token de BotFather"),
        ("TELEGRAM_BOT_TOKEN", "123456:AAE token", "TELEGRAM_BOT_TOKEN no parece"),
        ("TELEGRAM_BOT_TOKEN", "bot123456:AAE-x", "TELEGRAM_BOT_TOKEN no parece"),
        ("TELEGRAM_BOT_TOKEN", "123456:", "TELEGRAM_BOT_TOKEN no parece"),
        ("WEBHOOK_URL", "http://shop.example/hook", "WEBHOOK_URL debe empezar por https://"),
        ("WEBHOOK_URL", "shop.example/hook", "WEBHOOK_URL debe empezar por"),
    ],
)
def test_settings_that_cannot_work_are_refused(name, value, message):
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({name: value})
    assert message in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_refused_token_is_not_echoed():
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({"TELEGRAM_BOT_TOKEN": "12345 secret-looking-value"})
    assert "secret-looking-value" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value", "parsed"),
    [
        ("WEBHOOK_PORT", "65535", 65535),
        ("WEBHOOK_PORT", "443", 443),
        ("TELEGRAM_BOT_TOKEN", "123456789:AAEhBP0av28Rk-FS_wq1n9o2tXZ4bIeEuWc", None),
        ("WEBHOOK_URL", "https://shop.example/hook/", "https://shop.example/hook"),
    ],
)
def test_settings_that_work_are_kept(name, value, parsed):
    settings = Settings.from_mapping({name: value})
    assert getattr(settings, name.lower()) == (value if parsed is None else parsed)


def test_a_named_env_file_must_exist(tmp_path, monkeypatch):
    with pytest.raises(ConfigError) as caught:
        Settings.load(tmp_path / "prod.env")
    assert str(caught.value) == f"--env-file {tmp_path / 'prod.env'}: ese archivo no existe."
    assert caught.value.exit_code == 2


def test_without_a_named_file_a_missing_dot_env_is_fine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SQL_MAX_ROWS", raising=False)
    assert Settings.load().sql_max_rows == 50
    (tmp_path / ".env").write_text("SQL_MAX_ROWS=9\n")
    assert Settings.load().sql_max_rows == 9


@pytest.mark.parametrize("secret", ["a", "Zq9_x", "A-z_0" * 51 + "9", "x" * 256])
def test_webhook_secrets_telegram_accepts(secret):
    assert Settings.from_mapping({"WEBHOOK_SECRET": secret}).webhook_secret == secret


@pytest.mark.parametrize("secret", ["x" * 257, "con espacio", "ñandú", "a/b", "a+b=", "sé"])
def test_webhook_secrets_telegram_refuses_stop_start_up(secret, tmp_path, monkeypatch, capsys):
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET debe tener de 1 a 256 caracteres"):
        Settings.from_mapping({"WEBHOOK_SECRET": secret})
    monkeypatch.setenv("WEBHOOK_SECRET", secret)
    assert main(["--env-file", os.devnull, "sql", "SELECT 1"]) == 2
    err = capsys.readouterr().err
    assert "WEBHOOK_SECRET" in err and secret not in err


def test_whatsapp_users_are_business_scoped_ids_or_phone_numbers():
    settings = Settings.from_mapping({
        "WHATSAPP_ALLOWED_USERS": "US.13491208655302741918, +51 987-654-321,,",
        "WHATSAPP_ADMIN_USERS": "51911111111",
    })
    assert settings.whatsapp_allowed_users == frozenset({"US.13491208655302741918",
                                                         "51987654321"})
    assert settings.whatsapp_admin_users == frozenset({"51911111111"})
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({"WHATSAPP_ALLOWED_USERS": "Ana Pérez"})
    assert "WHATSAPP_ALLOWED_USERS debe ser una lista de ids de usuario de WhatsApp" in \
        str(caught.value)


def test_whatsapp_needs_its_secrets_once_its_token_is_set():
    assert not Settings.from_mapping({}).whatsapp_enabled
    partial = Settings.from_mapping({"WHATSAPP_ACCESS_TOKEN": "EAAx",
                                     "WHATSAPP_PHONE_NUMBER_ID": "1122"})
    assert partial.whatsapp_enabled
    with pytest.raises(ConfigError) as caught:
        partial.require_whatsapp()
    assert str(caught.value) == ("Faltan WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN: WhatsApp "
                                 "los necesita (mira .env.example).")
    complete = Settings.from_mapping({"WHATSAPP_ACCESS_TOKEN": "EAAx",
                                      "WHATSAPP_PHONE_NUMBER_ID": "1122",
                                      "WHATSAPP_APP_SECRET": "s", "WHATSAPP_VERIFY_TOKEN": "v"})
    complete.require_whatsapp()
    assert {"EAAx", "s", "v"} <= set(complete.secrets())  # blotted out of every log line
    assert "EAAx" not in repr(complete)

"""Settings: read once (environment > ``.env`` > default), validated, frozen.

Nothing else in the package reads ``os.environ``. Tests build settings from a plain dict with
``Settings.from_mapping({...})``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from dotenv import dotenv_values

from bot.errors import ConfigError, os_reason

DEFAULT_TELEGRAM_API = "https://api.telegram.org"
DEFAULT_GRAPH_API = "https://graph.facebook.com"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
GROUP_VOICE_MODES = ("reply", "all", "off")
#: The largest whole number a setting may hold: what a C int takes (SQLite's limits, row
#: counts handed to the sqlite3 module); past it the value fails deep inside, as a traceback.
MAX_WHOLE_NUMBER = 2**31 - 1
#: Seconds a setting may hold at most (11.5 days): past that no wait makes sense, and a huge
#: float overflows the C timeouts it ends up in (sockets, SQLite's busy timeout).
MAX_SECONDS = 1_000_000.0
#: Telegram ids (users, groups, channels) are signed 64-bit integers, as SQLite stores them.
MAX_ID = 2**63 - 1


def _text(name: str, raw: str) -> str:
    return raw.strip()


def _integer(minimum: int = 0, maximum: int = MAX_WHOLE_NUMBER) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConfigError(f"{name} debe ser un número entero; recibí {raw!r}.") from None
        if value < minimum:
            raise ConfigError(f"{name} debe ser al menos {minimum}; recibí {value}.")
        if value > maximum:
            raise ConfigError(f"{name} puede ser como mucho {maximum:,}; recibí "
                              f"{raw.strip()[:30]}.")
        return value

    return parse


def _seconds(name: str, raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} debe ser un número de segundos; recibí {raw!r}.") from None
    if value <= 0:
        raise ConfigError(f"{name} debe ser mayor que 0; recibí {raw!r}.")
    if not math.isfinite(value) or value > MAX_SECONDS:
        raise ConfigError(f"{name} debe ser un número de segundos de hasta "
                          f"{MAX_SECONDS:,.0f}; recibí {raw!r}.")
    return value


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} debe ser on u off; recibí {raw!r}.")


def _ids(name: str, raw: str) -> frozenset[int]:
    ids: set[int] = set()
    for part in raw.replace(" ", "").split(","):
        if not part:
            continue
        try:
            ids.add(int(part))
            if abs(int(part)) > MAX_ID:
                raise ValueError(part)
        except ValueError:
            raise ConfigError(
                f"{name} debe ser una lista de ids de {'chat' if 'CHAT' in name else 'usuario'}"
                f" de Telegram separados por comas; recibí {raw!r}."
            ) from None
    return frozenset(ids)


def _whatsapp_users(name: str, raw: str) -> frozenset[str]:
    """Business-scoped user ids (``US.1234...``) or phone numbers (digits, ``+`` and spaces
    dropped) as WhatsApp sends them in ``contacts[].user_id`` and ``wa_id``."""
    users: set[str] = set()
    for part in raw.split(","):
        value = part.strip()
        if not value:
            continue
        digits = value.lstrip("+").replace(" ", "").replace("-", "")
        if digits.isdigit():
            users.add(digits)
        elif "." in value and " " not in value:
            users.add(value)
        else:
            raise ConfigError(f"{name} debe ser una lista de ids de usuario de WhatsApp "
                              f"(US.123…) o números de teléfono separados por comas; recibí "
                              f"{raw!r}.")
    return frozenset(users)


def _choice(*choices: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower() if choices[0].islower() else raw.strip().upper()
        if value not in choices:
            raise ConfigError(f"{name} debe ser uno de: {', '.join(choices)}; recibí {raw!r}.")
        return value

    return parse


def _path(name: str, raw: str) -> Path:
    if not raw.strip():
        raise ConfigError(f"{name} debe ser la ruta de un archivo, y está vacío.")
    return Path(raw.strip()).expanduser()


def _optional_path(name: str, raw: str) -> Path | None:
    return Path(raw.strip()).expanduser() if raw.strip() else None


#: What Telegram accepts as a webhook secret token (Bot API, setWebhook: secret_token).
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _webhook_secret(name: str, raw: str) -> str:
    value = raw.strip()
    if value and not _WEBHOOK_SECRET.fullmatch(value):
        raise ConfigError(
            f"{name} debe tener de 1 a 256 caracteres entre A-Z, a-z, 0-9, _ y - (Telegram no "
            f"acepta otros); tiene {len(value)} caracteres"
            + (", y algunos no están permitidos." if len(value) <= 256 else ".")
        )
    return value


def _url(name: str, raw: str) -> str:
    value = raw.strip().rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name} debe empezar por http:// o https://; recibí {raw!r}.")
    if value and not _well_formed(value):
        raise ConfigError(f"{name} debe ser una URL como https://host.example/ruta, con nombre "
                          f"de host y sin espacios; recibí {raw!r}.")
    return value


def _well_formed(url: str) -> bool:
    """Whether an http(s) URL has a host (and a valid port) and no spaces or control
    characters, which an HTTP client would otherwise refuse at the first request."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number 0-65535
    except ValueError:
        return False
    return bool(parts.hostname)


#: A BotFather token: the bot's numeric id, a colon, then URL-safe letters (35 of them today).
_TELEGRAM_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")


#: Query parameters that carry a credential (``?api-key=…``, ``?token=…``, ``?sig=…``).
_CREDENTIAL_PARAMETER = re.compile(r"key|token|secret|sig|pass|auth|code", re.IGNORECASE)


def _url_credentials(url: str) -> list[str]:
    """The credentials a URL carries: the password of ``user:password@`` and the values of
    credential-like query parameters. Proxies in front of model endpoints are often reached
    this way, and a failed request logs its URL."""
    if not url:
        return []
    parts = urlsplit(url)
    found = [parts.password] if parts.password else []
    found += [value for key, value in parse_qsl(parts.query)
              if value and _CREDENTIAL_PARAMETER.search(key)]
    return found


def _telegram_token(name: str, raw: str) -> str:
    value = raw.strip()
    if value and not _TELEGRAM_TOKEN.fullmatch(value):
        # The value is a secret: never echo it back.
        raise ConfigError(f"{name} no parece un token de BotFather (dígitos, dos puntos y "
                          "letras, p. ej. 123456789:AAE...): cópialo de nuevo desde @BotFather.")
    return value


def _https_url(name: str, raw: str) -> str:
    value = _url(name, raw)
    if value and not value.startswith("https://"):
        # Telegram delivers webhooks only to HTTPS URLs (setWebhook refuses http://).
        raise ConfigError(f"{name} debe empezar por https:// (Telegram envía webhooks solo por "
                          f"HTTPS); recibí {raw!r}.")
    return value


def _port(name: str, raw: str) -> int:
    value = _integer(1)(name, raw)
    if value > 65535:
        raise ConfigError(f"{name} debe ser un puerto TCP de 1 a 65535; recibí {value}.")
    return value


def _settings_file(path: Path) -> dict[str, str]:
    """The values a ``.env`` file sets; ``ConfigError`` when it is a folder or not UTF-8 text."""
    if path.is_dir():
        raise ConfigError(f"El archivo de ajustes {path} es una carpeta: indica el archivo "
                          ".env mismo.")
    try:
        values = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as error:
        reason = os_reason(error) if isinstance(error, OSError) else "no es texto UTF-8"
        raise ConfigError(f"No puedo leer el archivo de ajustes {path}: {reason}.") from None
    return {k: v for k, v in values.items() if v is not None}


def setting(default: Any, parse: Callable[[str, str], Any], doc: str, *, secret: bool = False):
    """A settings field: its default, how to parse the raw text, and what it means."""
    return field(default=default, metadata={"parse": parse, "doc": doc, "secret": secret})


@dataclass(frozen=True)
class Settings:
    """Every setting KRATOS reads. Field names are the environment names, lower-cased."""

    telegram_bot_token: str = setting("", _telegram_token, "Bot token from BotFather.",
                                      secret=True)
    telegram_api_base_url: str = setting(
        DEFAULT_TELEGRAM_API, _url, "Bot API server root (a local Bot API server or a test one)."
    )
    telegram_local_mode: bool = setting(
        False, _flag, "on when TELEGRAM_API_BASE_URL is a Bot API server started with --local."
    )
    openai_api_key: str = setting("", _text, "Key for the model endpoint; empty = basic mode.",
                                  secret=True)
    openai_base_url: str = setting("", _url, "OpenAI-compatible endpoint; empty = OpenAI.")
    openai_model: str = setting("gpt-4.1-mini", _text, "Chat model that writes SQL and replies.")
    openai_api_version: str = setting(
        "", _text, "Azure OpenAI api-version for deployment URLs (OPENAI_BASE_URL = the "
                   "resource endpoint, OPENAI_MODEL = the deployment); empty = not Azure.")
    openai_timeout: float = setting(15.0, _seconds, "Seconds one model request may take.")
    model_max_tokens: int = setting(
        1000, _integer(50), "Tokens one model reply may hold at most (the request's max_tokens)."
    )
    openai_max_retries: int = setting(2, _integer(0), "Retries on 429/5xx/timeouts per request.")
    # 18 s: with the model endpoint silent, basic mode (milliseconds) still answers within
    # 20 s. OPENAI_TIMEOUT x (1 + OPENAI_MAX_RETRIES) alone would be 45 s at the defaults.
    answer_timeout: float = setting(
        18.0, _seconds, "Seconds the model may take for a whole answer before basic mode answers."
    )
    stream_replies: bool = setting(
        True, _flag, "on = a reply the model writes shows while it is written (a draft in "
        "private chats, one edited message in groups)."
    )
    catalog_db: Path = setting(Path("data/catalog.db"), _path, "The store's SQLite catalog.")
    catalog_notes: Path | None = setting(
        None, _optional_path, "TOML file with notes on catalog columns (default: beside the DB)."
    )
    state_db: Path = setting(Path("data/state.db"), _path, "KRATOS's own SQLite state.")
    allowed_user_ids: frozenset[int] = setting(
        frozenset(), _ids, "Comma-separated user ids allowed to talk to the bot; empty = all."
    )
    allowed_chat_ids: frozenset[int] = setting(
        frozenset(), _ids, "Comma-separated group chat ids the bot serves; empty = all."
    )
    admin_user_ids: frozenset[int] = setting(
        frozenset(), _ids, "Comma-separated user ids allowed to use /stats."
    )
    log_level: str = setting("INFO", _choice(*LOG_LEVELS), "Logging level.")
    log_messages: bool = setting(
        False, _flag, "on = DEBUG logs may show customers' messages (off: they are hidden)."
    )
    sql_timeout: float = setting(2.0, _seconds, "Seconds one catalog query may run.")
    sql_max_rows: int = setting(50, _integer(1, 100_000),
                                "Rows of one query shown to the model.")
    sql_connections: int = setting(
        3, _integer(1, 64),
        "Catalog connections; a user's questions hold at most one at a time.",
    )
    sql_memory_mb: int = setting(
        64, _integer(16, 1_048_576),
        "MB of memory SQLite may use in all (sorts, DISTINCT, caches).",
    )
    max_tool_calls: int = setting(4, _integer(1), "SQL queries the model may run per question.")
    prompt_max_chars: int = setting(
        24_000, _integer(16_000),
        "Characters of the system prompt at most (instructions, catalog, notes, a transcript).",
    )
    memory_token_budget: int = setting(
        3000, _integer(200), "Tokens of past conversation sent to the model."
    )
    conversation_ttl_days: int = setting(
        30, _integer(1), "Days after which an idle conversation is forgotten."
    )
    daily_token_budget: int = setting(
        0, _integer(0), "Model tokens one user may spend per day; 0 = no limit."
    )
    rate_limit_messages: int = setting(
        10, _integer(1), "Messages one user may send per RATE_LIMIT_WINDOW."
    )
    rate_limit_window: float = setting(60.0, _seconds, "Window of the per-user rate limit.")
    webhook_url: str = setting("", _https_url,
                               "Public HTTPS URL for webhook mode; empty = polling.")
    webhook_secret: str = setting(
        "", _webhook_secret,
        "Secret Telegram sends with every webhook call: 1-256 of A-Z a-z 0-9 _ -.", secret=True)
    webhook_listen: str = setting("0.0.0.0", _text, "Address the webhook server listens on.")
    webhook_port: int = setting(8443, _port, "Port the webhook server listens on.")
    transcribe_model: str = setting("whisper-1", _text, "Speech-to-text model.")
    transcribe_language: str = setting("es", _text, "ISO-639-1 language of the audio.")
    transcribe_format: str = setting(
        "wav", _choice("wav", "mp3", "flac", "ogg"), "Format audio is converted to for upload."
    )
    transcribe_concurrency: int = setting(
        3, _integer(1), "Chunks of one recording transcribed at once."
    )
    max_audio_minutes: int = setting(60, _integer(1), "Longest recording accepted.")
    group_voice_mode: str = setting(
        "reply", _choice(*GROUP_VOICE_MODES),
        "Voice notes in groups: reply (only replies to the bot), all, or off.",
    )
    voice_replies: bool = setting(False, _flag, "on = short answers also come as a voice note.")
    tts_model: str = setting("gpt-4o-mini-tts", _text, "Text-to-speech model for voice replies.")
    tts_voice: str = setting("alloy", _text, "Voice for spoken replies.")
    purge_interval: float = setting(
        3600.0, _seconds, "Seconds between purges of expired conversations and usage detail."
    )
    media_url_max_mb: int = setting(
        20, _integer(1), "Largest file a link to a recording may bring (MB)."
    )
    media_url_timeout: float = setting(
        120.0, _seconds, "Seconds fetching a link to a recording may take in all."
    )
    media_url_allow_private: bool = setting(
        False, _flag, "on = links may point to loopback and private addresses (tests, intranet)."
    )
    vision_model: str = setting(
        "", _text, "Vision-capable model that looks at customers' photos; empty = off."
    )
    whatsapp_access_token: str = setting(
        "", _text, "WhatsApp Cloud API access token (a system user's); empty = no WhatsApp.",
        secret=True,
    )
    whatsapp_phone_number_id: str = setting(
        "", _text, "Phone number ID that WhatsApp answers are sent from."
    )
    whatsapp_app_secret: str = setting(
        "", _text, "Meta app secret: checks X-Hub-Signature-256 on every WhatsApp delivery.",
        secret=True,
    )
    whatsapp_verify_token: str = setting(
        "", _text, "Token Meta sends in the WhatsApp webhook verification handshake.",
        secret=True,
    )
    whatsapp_webhook_path: str = setting(
        "/whatsapp", _text, "Path of the WhatsApp webhook on WEBHOOK_LISTEN:WEBHOOK_PORT."
    )
    whatsapp_api_base_url: str = setting(
        DEFAULT_GRAPH_API, _url, "Graph API root (a test one); the path and version are pywa's."
    )
    whatsapp_allowed_users: frozenset[str] = setting(
        frozenset(), _whatsapp_users,
        "Comma-separated WhatsApp user ids or phone numbers allowed to ask; empty = all.",
    )
    whatsapp_admin_users: frozenset[str] = setting(
        frozenset(), _whatsapp_users,
        "Comma-separated WhatsApp user ids or phone numbers allowed to ask for stats.",
    )

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Settings:
        """Build settings from NAME -> raw text; unknown names are ignored, missing ones default."""
        kwargs: dict[str, Any] = {}
        for spec in fields(cls):
            raw = values.get(spec.name.upper())
            if raw is not None:
                kwargs[spec.name] = spec.metadata["parse"](spec.name.upper(), raw)
        return cls(**kwargs)

    @classmethod
    def load(cls, env_file: str | Path | None = None) -> Settings:
        """Environment first, then the settings file, then defaults.

        Without ``env_file`` the file is ``.env``, read when it exists (every setting has a
        default). A file named explicitly (``--env-file``) must exist, or this raises
        ``ConfigError``; ``/dev/null`` names none.
        """
        env_path = Path(env_file) if env_file is not None else Path(".env")
        if env_file is not None and not env_path.exists():
            raise ConfigError(f"--env-file {env_path}: ese archivo no existe.")
        from_file = _settings_file(env_path) if env_path.exists() else {}
        return cls.from_mapping({**from_file, **os.environ})

    @property
    def notes_path(self) -> Path:
        """Where the catalog's column notes live."""
        return self.catalog_notes or self.catalog_db.with_suffix(".toml")

    @property
    def model_enabled(self) -> bool:
        """Whether a language model is configured; without one, basic mode answers."""
        return bool(self.openai_api_key)

    @property
    def telegram_download_limit(self) -> int:
        """Largest file the bot may fetch with getFile (bytes)."""
        return 2000 * 1024 * 1024 if self.telegram_local_mode else 20 * 1024 * 1024

    def require_telegram(self) -> None:
        if not self.telegram_bot_token:
            raise ConfigError("Falta TELEGRAM_BOT_TOKEN: ponlo en .env (mira .env.example).")
        if self.webhook_url and not self.webhook_secret:
            raise ConfigError(
                "Falta WEBHOOK_SECRET: el modo webhook lo necesita (mira .env.example)."
            )

    @property
    def whatsapp_enabled(self) -> bool:
        """Whether the WhatsApp channel is configured (an access token is set)."""
        return bool(self.whatsapp_access_token)

    def require_whatsapp(self) -> None:
        """Refuse a WhatsApp channel that could not send or could not check deliveries."""
        missing = [name for name, value in (
            ("WHATSAPP_PHONE_NUMBER_ID", self.whatsapp_phone_number_id),
            ("WHATSAPP_APP_SECRET", self.whatsapp_app_secret),
            ("WHATSAPP_VERIFY_TOKEN", self.whatsapp_verify_token),
        ) if not value]
        if missing:
            many = len(missing) > 1
            raise ConfigError(f"Falta{'n' if many else ''} {', '.join(missing)}: WhatsApp "
                              f"{'los' if many else 'lo'} necesita (mira .env.example).")
        if not self.whatsapp_webhook_path.startswith("/"):
            raise ConfigError("WHATSAPP_WEBHOOK_PATH debe empezar por /; recibí "
                              f"{self.whatsapp_webhook_path!r}.")

    def secrets(self) -> list[str]:
        """The values of secret settings, and credentials written into URL settings (for
        blotting them out of logs)."""
        values = [getattr(self, spec.name) for spec in fields(self)
                  if spec.metadata["secret"] and getattr(self, spec.name)]
        for spec in fields(self):
            if spec.metadata["parse"] in (_url, _https_url):
                values += _url_credentials(getattr(self, spec.name))
        return values

    def describe(self) -> list[tuple[str, str, str]]:
        """(NAME, default, doc) for every setting, secrets' defaults shown empty."""
        rows = []
        for spec in fields(self):
            default = spec.default
            if isinstance(default, frozenset):
                default = ""
            rows.append((spec.name.upper(), "" if default is None else str(default),
                         spec.metadata["doc"]))
        return rows

    def __repr__(self) -> str:
        shown = []
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.metadata["secret"] and value:
                value = "***"
            shown.append(f"{spec.name}={value!r}")
        return f"Settings({', '.join(shown)})"

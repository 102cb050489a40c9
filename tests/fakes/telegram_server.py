"""A fake Telegram Bot API: a real aiohttp server on 127.0.0.1 that the real PTB client talks to.

Point ``TELEGRAM_API_BASE_URL`` at ``fake.root``. The server answers the methods KRATOS uses,
validates messages the way Telegram does (length after entity parsing, HTML parse mode),
long-polls ``getUpdates``, serves registered files, records every call, and fails on demand::

    async with FakeTelegram() as fake:
        fake.push_text(chat_id=5, user_id=5, text="hola")
        [reply] = await fake.wait_for_messages(1)

Voice notes, audio, video and documents come the same way (``push_media``), their bytes served
through getFile; ``downloads`` lists the files fetched, and ``local_dir`` makes getFile answer
as a local Bot API server does, with an absolute path on disk.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import socket
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

MAX_TEXT_LENGTH = 4096
#: A draft is an ephemeral preview of about 30 s, or until the bot sends its message.
DRAFT_LIFETIME = 30.0
MAX_CAPTION_LENGTH = 1024
MEDIA_KINDS = ("voice", "video_note", "audio", "video", "document")
MEDIA_SUFFIXES = {"voice": ".oga", "video_note": ".mp4", "audio": ".mp3", "video": ".mp4",
                  "document": ""}

# Form values PTB sends as plain text; every other value is JSON (numbers, booleans, objects).
TEXT_PARAMS = frozenset({
    "text", "caption", "parse_mode", "action", "url", "secret_token", "language_code",
    "file_id", "title", "performer", "filename", "description", "short_description", "name",
})

CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note",
    "upload_video_note",
})

# Telegram's HTML parse mode: tag -> entity type.
HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "a": "text_link", "code": "code", "pre": "pre", "tg-spoiler": "spoiler", "span": "spoiler",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
ENTITY = re.compile(r"&(?:(lt|gt|amp|quot)|#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)"
    r"\s*>"
)
ATTRIBUTE = re.compile(r"([a-zA-Z-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+)))?")

COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}")
URL = re.compile(r"(?<!\S)(?:https?|ftp)://[^\s<>\"]+")


class ParseError(ValueError):
    """Text Telegram would refuse, worded as Telegram words it."""


#: Telegram's placeholder senders (Bot API, Message.from): posts in a channel's name, and
#: anonymous group admins.
CHANNEL_BOT = 136817688
GROUP_ANONYMOUS_BOT = 1087968824


class ApiError(Exception):
    """A call Telegram answers with an error: its HTTP status and description."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


#: The fields Telegram sends with each ChatMember status (Bot API, ChatMember).
_ADMIN_RIGHTS = ("can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
                 "can_manage_video_chats", "can_restrict_members", "can_promote_members",
                 "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
                 "can_delete_stories")
_RESTRICTIONS = ("can_change_info", "can_invite_users", "can_pin_messages", "can_send_messages",
                 "can_send_polls", "can_send_other_messages", "can_add_web_page_previews",
                 "can_manage_topics", "can_send_audios", "can_send_documents",
                 "can_send_photos", "can_send_videos", "can_send_video_notes",
                 "can_send_voice_notes", "can_edit_tag", "can_react_to_messages")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le")) // 2


_SPECIAL = re.compile("[&<]")


def _decode_entity(match: re.Match[str]) -> str:
    """The character an HTML entity (``&amp;``, ``&#233;``, ``&#xE9;``) stands for."""
    named, decimal, hexadecimal = match.groups()
    if named:
        return NAMED_ENTITIES[named]
    return chr(int(decimal) if decimal else int(hexadecimal, 16))


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML parse mode: the visible text and its entities, or ``ParseError``.

    Stricter than Telegram in one way on purpose: a bare ``&`` that starts no entity is an
    error here, so an escaping bug in the bot shows up in tests instead of in production.
    """
    out: list[str] = []
    open_tags: list[tuple[str, int, dict[str, Any]]] = []
    entities: list[dict[str, Any]] = []
    position = 0
    visible = 0

    def offset() -> int:
        return len(text[:position].encode("utf-8"))

    while position < len(text):
        char = text[position]
        if char == "&":
            match = ENTITY.match(text, position)
            if not match:
                raise ParseError(
                    f"Can't parse entities: character '&' is reserved and must be escaped "
                    f"at byte offset {offset()}"
                )
            decoded = _decode_entity(match)
            out.append(decoded)
            visible += utf16_len(decoded)
            position = match.end()
            continue
        if char == "<":
            match = TAG.match(text, position)
            if not match:
                raise ParseError(f"Can't parse entities: unsupported start tag at byte offset "
                                 f"{offset()}")
            closing, name, raw_attributes = match.group(1), match.group(2).lower(), match.group(3)
            if name not in HTML_TAGS:
                kind = "end" if closing else "start"
                raise ParseError(f'Can\'t parse entities: unsupported {kind} tag "{name}" at '
                                 f"byte offset {offset()}")
            if closing:
                if not open_tags or open_tags[-1][0] != name:
                    expected = f'"</{open_tags[-1][0]}>"' if open_tags else "no end tag"
                    raise ParseError(f"Can't parse entities: unmatched end tag at byte offset "
                                     f'{offset()}, expected {expected}, found "</{name}>"')
                _, start, entity = open_tags.pop()
                if visible > start:
                    entities.append({**entity, "offset": start, "length": visible - start})
            else:
                entity = _entity_for(name, _attributes(raw_attributes), offset())
                open_tags.append((name, visible, entity))
            position = match.end()
            continue
        # A run of plain text up to the next tag or entity, at once.
        end = _SPECIAL.search(text, position)
        run = text[position:end.start() if end else len(text)]
        out.append(run)
        visible += utf16_len(run)
        position += len(run)
    if open_tags:
        raise ParseError(f"Can't parse entities: can't find end tag corresponding to start tag "
                         f'"{open_tags[-1][0]}"')
    return "".join(out), sorted(entities, key=lambda item: (item["offset"], -item["length"]))


def _attributes(raw: str) -> dict[str, str]:
    return {m.group(1).lower(): next((g for g in m.groups()[1:] if g is not None), "")
            for m in ATTRIBUTE.finditer(raw)}


def _entity_for(name: str, attributes: dict[str, str], byte_offset: int) -> dict[str, Any]:
    entity: dict[str, Any] = {"type": HTML_TAGS[name]}
    if name == "a":
        if not attributes.get("href"):
            raise ParseError(f"Can't parse entities: tag \"a\" must have attribute href at byte "
                             f"offset {byte_offset}")
        entity["url"] = html.unescape(attributes["href"])
    elif name == "span" and attributes.get("class") != "tg-spoiler":
        raise ParseError(f'Can\'t parse entities: tag "span" must have class "tg-spoiler" at '
                         f"byte offset {byte_offset}")
    elif name == "pre" and "language" in attributes:
        entity["language"] = attributes["language"]
    elif name == "blockquote" and "expandable" in attributes:
        entity["type"] = "expandable_blockquote"
    elif name == "tg-emoji":
        entity["custom_emoji_id"] = attributes.get("emoji-id", "")
    return entity


def detect_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram adds to what a user types: bot commands, @mentions, links."""
    found = [("bot_command", m) for m in COMMAND.finditer(text)]
    found += [("mention", m) for m in MENTION.finditer(text)]
    found += [("url", m) for m in URL.finditer(text)]
    return sorted(
        ({"type": kind, "offset": utf16_len(text[:m.start()]), "length": utf16_len(m.group())}
         for kind, m in found),
        key=lambda entity: entity["offset"],
    )


@dataclass
class Call:
    """One request the bot made: the method, its decoded parameters and the status returned."""

    method: str
    params: dict[str, Any]
    status: int = 200


@dataclass
class SentMessage:
    """A message the bot sent or edited, as sent (``text``) and as the user sees it (``plain``)."""

    method: str
    chat_id: int
    message_id: int
    text: str
    plain: str
    parse_mode: str | None
    params: dict[str, Any]
    message: dict[str, Any]


@dataclass
class Draft:
    """A draft preview the bot showed (sendMessageDraft): as sent and as the user sees it."""

    chat_id: int
    draft_id: int
    text: str
    plain: str
    at: float  # time.monotonic() when it arrived


@dataclass
class Upload:
    """A file the bot sent (sendVoice, sendDocument, sendAudio)."""

    method: str
    chat_id: int
    field: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Failure:
    status: int
    retry_after: int
    description: str | None
    times: int


def _as_chat_id(value: Any) -> int | None:
    """A call's ``chat_id`` as a number (PTB sends it as text or a number), else None."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class FakeTelegram:
    """The fake Bot API server. Use as ``async with FakeTelegram() as fake``."""

    def __init__(self, token: str = "123:TEST", *, username: str = "kratos_test_bot",
                 bot_id: int = 7000000001, first_name: str = "KRATOS") -> None:
        self.token = token
        self.bot_user = {"id": bot_id, "is_bot": True, "first_name": first_name,
                         "username": username, "can_join_groups": True,
                         "can_read_all_group_messages": False,
                         "supports_inline_queries": False}
        self.calls: list[Call] = []
        self.messages: list[SentMessage] = []
        self.uploads: list[Upload] = []
        self.drafts: list[Draft] = []  # every draft shown, oldest first
        self.deleted: set[tuple[int, int]] = set()  # (chat_id, message_id) the bot deleted
        self._open_drafts: dict[int, Draft] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.webhook: dict[str, Any] | None = None
        self.downloads: list[str] = []
        self.local_dir: Path | None = None
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._files: dict[str, tuple[str, bytes]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        # (chat id, user id) -> ChatMember status, for getChatMember; groups the bot is in.
        self._members: dict[tuple[int, int], str] = {}
        self._bot_groups: set[int] = set()
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        #: chat id -> the 403 description every call naming that chat gets (``refuse_chat``).
        self._refusing: dict[int, str] = {}
        self._changed: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._closing = False
        #: What getUpdates/setWebhook last asked for; Telegram's default leaves out only the
        #: chat_member and reaction updates.
        self.allowed_updates: list[str] | None = None
        #: The current text of every text message the bot sent: (chat id, message id) -> text.
        self.bot_texts: dict[tuple[int, int], str] = {}
        self.deleted: list[tuple[int, int]] = []

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        self._changed = asyncio.Condition()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        self._closing = True
        await self._notify()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def root(self) -> str:
        """The server root, for ``TELEGRAM_API_BASE_URL``."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def username(self) -> str:
        return str(self.bot_user["username"])

    @property
    def bot_id(self) -> int:
        return int(self.bot_user["id"])

    # -- driving the bot ------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (an ``update_id`` is added when missing) for getUpdates."""
        update = dict(update)
        update.setdefault("update_id", next(self._update_ids))
        self._updates.append(update)
        self._notify_soon()
        return update

    def _user_message(
        self, chat_id: int, user_id: int, *, chat_type: str = "private",
        reply_to_message: dict[str, Any] | None = None, language_code: str | None = "es",
        username: str | None = None, first_name: str | None = None,
        sender_chat: int | None = None, automatic_forward: bool = False,
    ) -> dict[str, Any]:
        """A message from a user, without its content.

        ``sender_chat``: sent on behalf of that chat, as Telegram sends it: the group's own id
        for an anonymous admin (from GroupAnonymousBot, 1087968824), a channel's id for a post
        in a channel's name (from Channel_Bot, 136817688); ``user_id`` is then ignored.
        ``automatic_forward``: a linked channel's post forwarded into its discussion group.
        """
        user: dict[str, Any] = {"id": user_id, "is_bot": False,
                                "first_name": first_name or f"User{user_id}"}
        if sender_chat is not None:
            anonymous = sender_chat == chat_id
            user = {"id": GROUP_ANONYMOUS_BOT if anonymous else CHANNEL_BOT, "is_bot": True,
                    "first_name": "Group" if anonymous else "Channel",
                    "username": "GroupAnonymousBot" if anonymous else "Channel_Bot"}
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        if chat_type == "private":
            chat: dict[str, Any] = {"id": chat_id, "type": "private",
                                    "first_name": user["first_name"]}
        else:
            chat = {"id": chat_id, "type": chat_type, "title": f"Tienda {abs(chat_id)}"}
        self._chats.setdefault(chat_id, chat)
        message: dict[str, Any] = {
            "message_id": next(self._message_ids), "date": int(time.time()),
            "chat": chat, "from": user,
        }
        if reply_to_message is not None:
            message["reply_to_message"] = reply_to_message
        if sender_chat is not None:
            message["sender_chat"] = (chat if sender_chat == chat_id else
                                      {"id": sender_chat, "type": "channel",
                                       "title": f"Canal {abs(sender_chat)}"})
        if automatic_forward:
            message["is_automatic_forward"] = True
        return message

    def make_text_update(
        self, chat_id: int, user_id: int, text: str, *,
        entities: list[dict[str, Any]] | None = None, **options: Any,
    ) -> dict[str, Any]:
        """A text message update as Telegram sends it, without queueing it.

        ``options``: chat_type, reply_to_message, language_code, username, first_name,
        sender_chat, automatic_forward (see ``_user_message``).
        """
        message = self._user_message(chat_id, user_id, **options)
        message["text"] = text
        found = detect_entities(text) if entities is None else entities
        if found:
            message["entities"] = found
        return {"update_id": next(self._update_ids), "message": message}

    def make_media_update(
        self, chat_id: int, user_id: int, kind: str, data: bytes | None = None, *,
        file_size: int | None = None, declare_size: bool = True, mime_type: str | None = None,
        duration: int | None = None, file_name: str | None = None, caption: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """A voice, video_note, audio, video or document message, without queueing it.

        ``data`` is served through getFile (leave it out for a file that must never be
        fetched). ``file_size`` defaults to ``len(data)``; ``declare_size=False`` leaves it out,
        as Telegram may. Other ``options`` as for ``make_text_update``.
        """
        if kind not in MEDIA_KINDS:
            raise ValueError(f"unknown media kind {kind!r}")
        file_id = (self.add_file(data, f"{kind}s/file_{next(self._file_ids)}"
                                 f"{MEDIA_SUFFIXES[kind]}")
                   if data is not None else f"missing-{next(self._file_ids)}")
        media: dict[str, Any] = {"file_id": file_id, "file_unique_id": f"u{file_id}"}
        size = file_size if file_size is not None else len(data or b"")
        if declare_size:
            media["file_size"] = size
        if kind != "document":
            media["duration"] = duration if duration is not None else 1
        if kind == "video_note":
            media["length"] = 240
        elif kind == "video":
            media.update(width=320, height=240)
        if kind == "voice":
            media["mime_type"] = mime_type or "audio/ogg"
        elif kind != "video_note" and mime_type is not None:
            media["mime_type"] = mime_type
        if file_name is not None and kind in ("audio", "video", "document"):
            media["file_name"] = file_name
        message = self._user_message(chat_id, user_id, **options)
        message[kind] = media
        if caption is not None:
            message["caption"] = caption
            found = detect_entities(caption)
            if found:
                message["caption_entities"] = found
        return {"update_id": next(self._update_ids), "message": message}

    def push_media(self, chat_id: int, user_id: int, kind: str, data: bytes | None = None,
                   **options: Any) -> dict[str, Any]:
        """Queue a media message from a user (see ``make_media_update``)."""
        return self.push_update(self.make_media_update(chat_id, user_id, kind, data, **options))

    def make_content_update(self, chat_id: int, user_id: int, content: dict[str, Any], *,
                            caption: str | None = None, **options: Any) -> dict[str, Any]:
        """A message carrying ``content`` (e.g. ``{"sticker": {...}}``), without queueing it.

        Other ``options`` as for ``make_text_update``.
        """
        message = self._user_message(chat_id, user_id, **options)
        message.update(content)
        if caption is not None:
            message["caption"] = caption
            found = detect_entities(caption)
            if found:
                message["caption_entities"] = found
        return {"update_id": next(self._update_ids), "message": message}

    def push_content(self, chat_id: int, user_id: int, content: dict[str, Any],
                     **options: Any) -> dict[str, Any]:
        """Queue a message carrying ``content`` (see ``make_content_update``)."""
        return self.push_update(self.make_content_update(chat_id, user_id, content, **options))

    def push_photo(self, chat_id: int, user_id: int, data: bytes, *, width: int = 1280,
                   height: int = 960, **options: Any) -> dict[str, Any]:
        """Queue a photo as Telegram sends one: a thumbnail and the full size, both served
        through getFile (the thumbnail's bytes are the same image here)."""
        sizes = []
        for scale in (16, 1):
            file_id = self.add_file(data, f"photos/file_{next(self._file_ids)}.jpg")
            sizes.append({"file_id": file_id, "file_unique_id": f"u{file_id}",
                          "width": width // scale, "height": height // scale,
                          "file_size": len(data)})
        return self.push_content(chat_id, user_id, {"photo": sizes}, **options)

    def push_edit(self, update: dict[str, Any], text: str) -> dict[str, Any]:
        """Queue the user's edit of the text message in ``update``, as Telegram sends it."""
        message = {**update["message"], "text": text, "edit_date": int(time.time())}
        message.pop("entities", None)
        found = detect_entities(text)
        if found:
            message["entities"] = found
        return self.push_update({"update_id": next(self._update_ids), "edited_message": message})

    def push_text(self, chat_id: int, user_id: int, text: str, **options: Any) -> dict[str, Any]:
        """Queue a text message from a user (see ``make_text_update`` for the options)."""
        return self.push_update(self.make_text_update(chat_id, user_id, text, **options))

    def set_member(self, chat_id: int, user_id: int, status: str = "member") -> None:
        """Make ``user_id`` a ``status`` of group ``chat_id`` ("creator", "administrator",
        "member", "restricted", "left", "kicked"), as getChatMember will report it."""
        self._bot_groups.add(chat_id)
        self._members[(chat_id, user_id)] = status

    def fail_next(self, method: str, status: int = 429, retry_after: int = 1, times: int = 1,
                  description: str | None = None) -> None:
        """Make the next ``times`` calls of ``method`` fail with ``status``."""
        self._failures[method].append(_Failure(status, retry_after, description, times))

    def refuse_chat(self, chat_id: int,
                    description: str = "Forbidden: bot was blocked by the user") -> None:
        """Answer every later call naming ``chat_id`` with 403, as Telegram does once a user
        blocked the bot or the bot was removed from a group."""
        self._refusing[chat_id] = description

    def add_file(self, data: bytes, file_path: str = "voice/file.oga") -> str:
        """Serve ``data`` through getFile and the file route; returns the file_id.

        With ``local_dir`` set, getFile answers as a local Bot API server (``--local``) does:
        with an absolute path to a copy of the file in that directory.
        """
        file_id = f"file-{next(self._file_ids)}"
        self._files[file_id] = (file_path, data)
        return file_id

    # -- assertions -----------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def sent_messages(self, chat_id: int | None = None) -> list[SentMessage]:
        """Messages the bot sent successfully (sendMessage), oldest first."""
        return [m for m in self.messages if m.method == "sendMessage"
                and (chat_id is None or m.chat_id == chat_id)]

    def visible_draft(self, chat_id: int) -> Draft | None:
        """The draft the user sees in ``chat_id`` now: none once a message or 30 s replaced it."""
        draft = self._open_drafts.get(chat_id)
        if draft is None or time.monotonic() - draft.at > DRAFT_LIFETIME:
            return None
        return draft

    def chat_view(self, chat_id: int) -> list[str]:
        """What the user sees of the bot in ``chat_id``: each message's latest text (deleted
        ones gone), oldest first, then any visible draft."""
        latest: dict[int, str] = {}
        for sent in self.messages:
            if sent.chat_id == chat_id and (chat_id, sent.message_id) not in self.deleted:
                latest[sent.message_id] = sent.plain
        view = list(latest.values())
        draft = self.visible_draft(chat_id)
        return [*view, draft.plain] if draft is not None else view

    async def wait_for_messages(self, count: int, timeout: float = 10,
                                chat_id: int | None = None) -> list[SentMessage]:
        """Wait until at least ``count`` messages were sent (to ``chat_id``); return them."""
        try:
            await self._wait_until(lambda: len(self.sent_messages(chat_id)) >= count, timeout)
        except TimeoutError:
            got = [m.plain[:80] for m in self.sent_messages(chat_id)]
            raise AssertionError(f"expected {count} messages, got {len(got)}: {got}") from None
        return self.sent_messages(chat_id)

    async def wait_for_calls(self, method: str, count: int = 1,
                             timeout: float = 10) -> list[Call]:
        """Wait until ``method`` was called at least ``count`` times; return those calls."""
        try:
            await self._wait_until(lambda: len(self.calls_to(method)) >= count, timeout)
        except TimeoutError:
            raise AssertionError(f"expected {count} {method} calls, got "
                                 f"{len(self.calls_to(method))}") from None
        return self.calls_to(method)

    async def _wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        assert self._changed is not None, "the fake server is not running"
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(ready)

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    def _notify_soon(self) -> None:
        # push_update is synchronous for convenience; the waiters wake on the next loop turn.
        asyncio.get_running_loop().create_task(self._notify())

    # -- HTTP -----------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params, files = await _read_params(request)
        # Recorded on arrival, so a test can see a long poll that has not returned yet.
        call = Call(method, params)
        self.calls.append(call)
        await self._notify()
        failure = self._take_failure(method)
        if failure is not None:
            call.status = failure.status
            return _failure_response(failure)
        refusal = self._refusing.get(_as_chat_id(params.get("chat_id")))
        if refusal is not None:
            call.status = 403
            return _error(403, refusal)
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            call.status = 404
            return _error(404, "Not Found")
        try:
            result = await handler(params, files)
        except ParseError as error:
            call.status = 400
            return _error(400, f"Bad Request: {error}")
        except ApiError as error:
            call.status = error.status
            return _error(error.status, error.description)
        await self._notify()
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        path = request.match_info["path"]
        for file_path, data in self._files.values():
            if file_path == path:
                self.downloads.append(path)
                await self._notify()
                return web.Response(body=data, content_type="application/octet-stream")
        return _error(404, "Not Found")

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.popleft()
        return failure

    # -- methods --------------------------------------------------------------------------

    async def _m_getme(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return self.bot_user

    async def _m_getupdates(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if offset:
            # Telegram forgets every update below the offset: they are confirmed.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]

        if params.get("allowed_updates") is not None:
            self.allowed_updates = list(params["allowed_updates"]) or None

        def pending() -> list[dict[str, Any]]:
            # Telegram never delivers kinds the bot did not ask for: they are dropped.
            self._updates = [u for u in self._updates if self._wanted(u)]
            return [u for u in self._updates if u["update_id"] >= offset][:limit]

        if not pending() and timeout > 0 and not self._closing:
            assert self._changed is not None
            try:
                async with asyncio.timeout(timeout), self._changed:
                    await self._changed.wait_for(lambda: bool(pending()) or self._closing)
            except TimeoutError:
                pass
        return pending()

    async def _m_getchatmember(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        """Telegram's answer: the member's status; "left" for a user who is not in the group;
        400 "chat not found" for a group the bot is not in."""
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        if chat_id not in self._bot_groups:
            raise ApiError(400, "Bad Request: chat not found")
        status = self._members.get((chat_id, user_id), "left")
        member: dict[str, Any] = {"status": status, "user": {
            "id": user_id, "is_bot": False, "first_name": f"User{user_id}"}}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(dict.fromkeys(_ADMIN_RIGHTS, False))
        elif status == "restricted":
            member.update(dict.fromkeys(_RESTRICTIONS, False), is_member=True, until_date=0)
        elif status == "kicked":
            member["until_date"] = 0
        return member

    async def _m_sendmessage(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        plain, entities = _visible_text(params, "text", MAX_TEXT_LENGTH)
        message = self._bot_message(params)
        message["text"] = plain
        if entities:
            message["entities"] = entities
        self._record_message("sendMessage", params, plain, message)
        # The message takes the place of the draft that previewed it.
        self._open_drafts.pop(int(params["chat_id"]), None)
        return message

    async def _m_sendmessagedraft(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id", 0))
        if chat["type"] != "private":
            raise ParseError("message drafts can be sent only to private chats")
        draft_id = params.get("draft_id")
        if not isinstance(draft_id, int) or isinstance(draft_id, bool) or draft_id == 0:
            raise ParseError("draft_id must be non-zero")
        text = str(params.get("text") or "")
        plain = parse_html(text)[0] if str(params.get("parse_mode") or "").lower() == "html" \
            else text
        if len(plain) > MAX_TEXT_LENGTH:
            raise ParseError("message is too long")
        draft = Draft(int(chat["id"]), draft_id, text, plain, time.monotonic())
        self.drafts.append(draft)
        self._open_drafts[draft.chat_id] = draft
        return True

    async def _m_deletemessage(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        key = (int(params.get("chat_id", 0)), int(params.get("message_id", 0)))
        if key in self.deleted or not any((m.chat_id, m.message_id) == key
                                          for m in self.messages):
            raise ParseError("message to delete not found")
        self.deleted.add(key)
        return True

    async def _m_editmessagetext(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        plain, entities = _visible_text(params, "text", MAX_TEXT_LENGTH)
        key = (int(params.get("chat_id") or 0), int(params.get("message_id") or 0))
        if key not in self.bot_texts:
            raise ParseError("message to edit not found")
        if self.bot_texts[key] == plain:
            raise ParseError("message is not modified: specified new message content and reply "
                             "markup are exactly the same as a current content and reply markup "
                             "of the message")
        message = self._bot_message(params, message_id=int(params["message_id"]))
        message["text"] = plain
        message["edit_date"] = int(time.time())
        if entities:
            message["entities"] = entities
        self._record_message("editMessageText", params, plain, message)
        return message

    async def _m_deletemessage(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        key = (int(params.get("chat_id") or 0), int(params.get("message_id") or 0))
        if self.bot_texts.pop(key, None) is None:
            raise ParseError("message to delete not found")
        self.deleted.append(key)
        return True

    async def _m_sendchataction(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        if params.get("action") not in CHAT_ACTIONS:
            raise ParseError("wrong parameter action in request")
        return True

    async def _m_setmycommands(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        self.commands[_commands_key(params)] = list(params.get("commands") or [])
        return True

    async def _m_getmycommands(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return self.commands.get(_commands_key(params), [])

    async def _m_deletemycommands(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        self.commands.pop(_commands_key(params), None)
        return True

    async def _m_setwebhook(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        self.webhook = {"url": params.get("url", ""), "secret_token": params.get("secret_token"),
                        "allowed_updates": params.get("allowed_updates")}
        return True

    async def _m_deletewebhook(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_getwebhookinfo(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return {"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}

    async def _m_getfile(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        file_id = str(params.get("file_id", ""))
        if file_id not in self._files:
            raise ParseError("invalid file_id")
        file_path, data = self._files[file_id]
        if self.local_dir is not None:
            local = self.local_dir / file_path
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
            file_path = str(local.resolve())
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data),
                "file_path": file_path}

    async def _m_sendvoice(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return self._upload("sendVoice", "voice", params, files)

    async def _m_senddocument(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return self._upload("sendDocument", "document", params, files)

    async def _m_sendaudio(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return self._upload("sendAudio", "audio", params, files)

    # -- helpers --------------------------------------------------------------------------

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        chat_id = int(chat_id)
        if chat_id not in self._chats:
            self._chats[chat_id] = ({"id": chat_id, "type": "private", "first_name": "User"}
                                    if chat_id > 0 else
                                    {"id": chat_id, "type": "group", "title": "Group"})
        return self._chats[chat_id]

    def _bot_message(self, params: dict[str, Any], message_id: int | None = None
                     ) -> dict[str, Any]:
        if params.get("chat_id") is None:
            raise ParseError("chat_id is empty")
        message: dict[str, Any] = {
            "message_id": message_id or next(self._message_ids), "date": int(time.time()),
            "chat": self._chat(params["chat_id"]), "from": self.bot_user,
        }
        if params.get("message_thread_id"):
            message["message_thread_id"] = int(params["message_thread_id"])
        return message

    def _wanted(self, update: dict[str, Any]) -> bool:
        kinds = [k for k in update if k != "update_id"]
        if self.allowed_updates is None:
            return not any(k in ("chat_member", "message_reaction", "message_reaction_count")
                           for k in kinds)
        return any(k in self.allowed_updates for k in kinds)

    def _record_message(self, method: str, params: dict[str, Any], plain: str,
                        message: dict[str, Any]) -> None:
        self.bot_texts[(int(params["chat_id"]), message["message_id"])] = plain
        self.messages.append(SentMessage(
            method=method, chat_id=int(params["chat_id"]), message_id=message["message_id"],
            text=str(params.get("text", "")), plain=plain, parse_mode=params.get("parse_mode"),
            params=params, message=message,
        ))

    def _upload(self, method: str, field_name: str, params: dict[str, Any],
                files: dict[str, Any]) -> dict[str, Any]:
        message = self._bot_message(params)
        if "caption" in params:
            message["caption"], _ = _visible_text(params, "caption", MAX_CAPTION_LENGTH)
        part = files.get(field_name)
        if part is not None:
            data, filename, content_type = part
        elif params.get(field_name):
            data, filename, content_type = str(params[field_name]).encode(), None, None
        else:
            raise ParseError(f"there is no {field_name} in the request")
        file_id = self.add_file(data, f"{field_name}/{filename or 'file'}")
        described: dict[str, Any] = {"file_id": file_id, "file_unique_id": f"u{file_id}",
                                     "file_size": len(data)}
        if content_type:
            described["mime_type"] = content_type
        if field_name in ("voice", "audio"):
            described["duration"] = int(params.get("duration") or 0)
        if field_name in ("document", "audio") and filename:
            described["file_name"] = filename
        message[field_name] = described
        self.uploads.append(Upload(method, int(params["chat_id"]), field_name, data, filename,
                                   content_type, params))
        return message


def _visible_text(params: dict[str, Any], name: str, limit: int
                  ) -> tuple[str, list[dict[str, Any]]]:
    raw = params.get(name)
    text = "" if raw is None else str(raw)
    mode = str(params.get("parse_mode") or "").lower()
    if mode == "html":
        plain, entities = parse_html(text)
    else:
        plain, entities = text, list(params.get("entities") or [])
    if not plain.strip():
        raise ParseError("message text is empty" if name == "text" else "caption is empty")
    if len(plain) > limit:
        raise ParseError("message is too long" if name == "text" else "message caption is too "
                         "long")
    return plain, entities


def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
    scope = params.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")


def _decode(name: str, value: str) -> Any:
    if name in TEXT_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parameters from the query, a JSON body, a form or a multipart body, as PTB sends them."""
    params: dict[str, Any] = {k: _decode(k, v) for k, v in request.query.items()}
    files: dict[str, tuple[bytes, str | None, str | None]] = {}
    if request.method != "POST" or not request.can_read_body:
        return params, files
    if request.content_type == "application/json":
        # The Bot API server reads every JSON field as its text, as it reads a form field: a
        # string holding JSON ("reply_parameters": "{...}", as PTB writes them) reads the same.
        body = await request.json()
        for name, value in (body.items() if isinstance(body, dict) else ()):
            params[name] = _decode(name, value) if isinstance(value, str) else value
        return params, files
    form = await request.post()
    for name, value in form.items():
        if isinstance(value, web.FileField):
            files[name] = (value.file.read(), value.filename, value.content_type)
        else:
            params[name] = _decode(name, str(value))
    return params, files


def _error(status: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": status, "description": description},
                             status=status)


def _failure_response(failure: _Failure) -> web.Response:
    if failure.status == 429:
        body = {"ok": False, "error_code": 429,
                "description": failure.description
                or f"Too Many Requests: retry after {failure.retry_after}",
                "parameters": {"retry_after": failure.retry_after}}
        return web.json_response(body, status=429)
    default = {400: "Bad Request", 403: "Forbidden: bot was blocked by the user",
               500: "Internal Server Error", 502: "Bad Gateway", 504: "Gateway Timeout"}
    return _error(failure.status, failure.description or default.get(failure.status, "Error"))


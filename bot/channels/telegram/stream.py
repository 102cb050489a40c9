"""The answer visible while it is written: Telegram draft messages, or one message edited.

In a private chat the growing reply is shown as a draft (``sendMessageDraft``, Bot API 9.3,
python-telegram-bot 22.6+): an ephemeral preview that the final message replaces. Drafts exist
only in private chats, so in a group the first words go out as the reply message and that
message is edited as the text grows, at most once every ``GROUP_EDIT_EVERY`` seconds: a group
takes about 20 messages a minute, and the rate limiter counts edits too.

Only text that passed the grounding check reaches a preview (``bot.core.streaming``), and the final
reply, checked whole, always replaces it: a draft is followed by the final message, an edited
message is edited to the final text (or deleted and sent anew when it cannot be edited). A
preview is decoration: when Telegram refuses one, previewing stops and the answer still comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from telegram import Message
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, TelegramError

from bot.channels.telegram.format import Chunk, render

logger = logging.getLogger(__name__)

#: Seconds between two drafts of one answer: drafts animate between versions, and a new one
#: every few tokens would only multiply requests.
DRAFT_EVERY = 0.3
#: Seconds between two edits of one answer's message in a group (20 messages a minute there).
GROUP_EDIT_EVERY = 3.0

#: ``send_text(message, text, language, sent=list)``: sends a reply (at most a few messages),
#: appending the messages it sent.
SendText = Callable[..., Awaitable[int]]


class LiveReply:
    """One answer's place in the chat: a preview while it is written, then the final text.

    ``show`` returns at once; a background task sends the newest text, then waits ``every``
    seconds before sending a newer one. ``finish`` sends the final text; ``close`` removes a
    preview that no final text replaced (the answer failed).
    """

    every = DRAFT_EVERY

    def __init__(self, message: Message, send_text: SendText, language: str = "es") -> None:
        self.message = message
        self.send_text = send_text
        self.language = language
        self.shown = ""
        self.closed = False
        self.finished = False  # the final text was sent
        self._latest = ""
        self._pump: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def show(self, text: str) -> None:
        """Show ``text`` (the whole reply so far) as soon as the pace allows."""
        if self.closed:
            return
        self._latest = text
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self.closed and self._latest != self.shown:
            text = self._latest
            if not await self._put(text):
                self.closed = True
                return
            self.shown = text
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.every)

    async def _put(self, text: str) -> bool:
        """Show ``text`` in the chat; False when Telegram refused (previewing then stops)."""
        raise NotImplementedError

    async def _settle(self) -> None:
        """Stop previewing; a request already on its way is let finish."""
        self.closed = True
        self._stop.set()
        if self._pump is not None:
            try:
                await self._pump
            except Exception:
                # A preview is decoration: its bug must not cost the answer.
                logger.exception("chat %s: the preview failed", self.message.chat_id)

    async def finish(self, text: str, *, sent: list[Message] | None = None) -> int:
        """Send the final ``text`` in place of the preview; returns how many messages it took.

        The messages that now hold the answer are appended to ``sent`` when given.
        """
        await self._settle()
        parts = await self.send_text(self.message, text, self.language, sent=sent)
        self.finished = True
        return parts

    async def close(self) -> None:
        """Stop previewing (after ``finish``, nothing more happens)."""
        await self._settle()


class DraftReply(LiveReply):
    """A private chat: the reply grows in a draft; the final message replaces the draft."""

    def __init__(self, message: Message, send_text: SendText, language: str = "es") -> None:
        super().__init__(message, send_text, language)
        # Unique within the chat and never 0, as a draft id must be.
        self.draft_id = message.message_id

    async def _put(self, text: str) -> bool:
        chunks = render(text)
        if not chunks:
            return True
        chunk = chunks[0]
        try:
            await self.message.get_bot().send_message_draft(
                self.message.chat_id, self.draft_id, chunk.html, parse_mode=ParseMode.HTML)
        except TelegramError as error:
            logger.debug("chat %s: draft refused, previewing stops: %s", self.message.chat_id,
                         error)
            return False
        return True


class EditedReply(LiveReply):
    """A group: the first words are the reply message, edited as the text grows."""

    every = GROUP_EDIT_EVERY

    def __init__(self, message: Message, send_text: SendText, language: str = "es") -> None:
        super().__init__(message, send_text, language)
        self.sent: Message | None = None
        self.sent_html = ""

    async def _put(self, text: str) -> bool:
        chunks = render(text)
        if not chunks:
            return True
        chunk = chunks[0]
        try:
            if self.sent is None:
                self.sent = await self.message.reply_text(
                    chunk.html, parse_mode=ParseMode.HTML, do_quote=True,
                    allow_sending_without_reply=True)
            elif chunk.html != self.sent_html:
                await self.sent.edit_text(chunk.html, parse_mode=ParseMode.HTML)
        except TelegramError as error:
            logger.debug("chat %s: preview refused, previewing stops: %s", self.message.chat_id,
                         error)
            return False
        self.sent_html = chunk.html
        return True

    async def finish(self, text: str, *, sent: list[Message] | None = None) -> int:
        """Edit the preview into the final text; a text of several messages (or a preview that
        cannot be edited) goes out as new messages instead, the preview deleted first."""
        await self._settle()
        chunks = render(text)
        if self.sent is None or len(chunks) != 1 or not await self._edit_final(chunks[0]):
            await self._delete_preview()
            return await LiveReply.finish(self, text, sent=sent)
        self.finished = True
        if sent is not None:
            sent.append(self.sent)
        return 1

    async def _edit_final(self, chunk: Chunk) -> bool:
        """Edit the preview into the final text's first part; False when that failed."""
        assert self.sent is not None
        if chunk.html == self.sent_html:
            return True
        try:
            await self.sent.edit_text(chunk.html, parse_mode=ParseMode.HTML)
        except BadRequest as error:
            if "can't parse entities" not in error.message.lower():
                logger.warning("chat %s: could not edit the preview into the answer: %s",
                               self.message.chat_id, error.message)
                return False
            await self.sent.edit_text(chunk.plain)
        except TelegramError as error:
            logger.warning("chat %s: could not edit the preview into the answer: %s",
                           self.message.chat_id, error)
            return False
        self.sent_html = chunk.html
        return True

    async def _delete_preview(self) -> None:
        if self.sent is None:
            return
        try:
            await self.sent.delete()
        except TelegramError as error:
            logger.warning("chat %s: could not delete the preview %s: %s",
                           self.message.chat_id, self.sent.message_id, error)
        self.sent = None

    async def close(self) -> None:
        """Stop previewing; a preview no final text replaced is deleted, never left standing."""
        await self._settle()
        if not self.finished:
            await self._delete_preview()


def live_reply(message: Message, send_text: SendText, language: str = "es", *,
               enabled: bool) -> LiveReply | None:
    """The preview for an answer to ``message``: a draft in a private chat, else an edit.

    None when previews are turned off (``STREAM_REPLIES=off``).
    """
    if not enabled:
        return None
    if message.chat.type == ChatType.PRIVATE:
        return DraftReply(message, send_text, language)
    return EditedReply(message, send_text, language)

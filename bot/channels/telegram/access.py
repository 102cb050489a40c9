"""Who may ask, and who is asking: the allow-lists and the real sender of a Telegram message.

The rules (README, "Who may ask"), with U = ``ALLOWED_USER_IDS``, C = ``ALLOWED_CHAT_IDS`` and
A = ``ADMIN_USER_IDS``:

- U and C both empty: everyone, everywhere (A only grants /stats).
- Private chat: users on U or A; with C set, also members of an allowed group (asked of
  Telegram with ``getChatMember`` and remembered for ``MEMBERSHIP_TTL``). Nobody else.
- Group, C set: every sender in an allowed group (members, anonymous admins, channels posting
  there); nobody in any other group, admins included.
- Group, only U set: users on U or A, in any group; a channel or an anonymous admin cannot be
  told apart from any other, so they are not served.

The sender of a message sent on behalf of a chat is that chat (``sender_chat``): Telegram puts
a placeholder user in ``from`` (136817688 for channels, 1087968824 for anonymous admins), which
every channel and every anonymous admin of every group share.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from dataclasses import dataclass

from telegram import Bot, ChatMember, Message, User
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.settings import Settings

logger = logging.getLogger(__name__)

#: Seconds a group membership answer is trusted; someone removed from the group may still ask
#: in private for at most this long.
MEMBERSHIP_TTL = 600.0
#: Users whose membership is remembered at once; the oldest answers are forgotten first.
MEMBERSHIP_CACHE_SIZE = 10_000
_MEMBER_STATUSES = frozenset({ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR,
                              ChatMemberStatus.MEMBER})


class Access(enum.Enum):
    """What the allow-lists say about one sender in one chat."""

    ALLOW = "allow"
    DENY = "deny"
    IF_MEMBER = "if member of an allowed group"


@dataclass(frozen=True)
class Sender:
    """Who sent a message: a user, or a chat (a channel, or a group's anonymous admins)."""

    id: int
    is_chat: bool
    username: str | None
    language_code: str | None


def sender_of(message: Message, user: User) -> Sender:
    """The message's real sender: its ``sender_chat`` when there is one, else its user."""
    chat = message.sender_chat
    if chat is not None:
        return Sender(chat.id, True, chat.username, user.language_code)
    return Sender(user.id, False, user.username, user.language_code)


def access(settings: Settings, chat_id: int, chat_type: str, sender: Sender) -> Access:
    """Apply the allow-list rules (module docstring) to ``sender`` writing in ``chat_id``."""
    users, chats = settings.allowed_user_ids, settings.allowed_chat_ids
    if not users and not chats:
        return Access.ALLOW
    listed = not sender.is_chat and (sender.id in users or sender.id in settings.admin_user_ids)
    if chat_type == ChatType.PRIVATE:
        if listed:
            return Access.ALLOW
        return Access.IF_MEMBER if chats else Access.DENY
    if chats:
        return Access.ALLOW if chat_id in chats else Access.DENY
    return Access.ALLOW if listed else Access.DENY


def is_member(member: ChatMember) -> bool:
    """Whether a ``getChatMember`` answer says the user is in the group."""
    if member.status in _MEMBER_STATUSES:
        return True
    return member.status == ChatMemberStatus.RESTRICTED and bool(getattr(member, "is_member",
                                                                         False))


class Memberships:
    """Whether a user belongs to one of the allowed groups, asked of Telegram and remembered."""

    def __init__(self, ttl: float = MEMBERSHIP_TTL, size: int = MEMBERSHIP_CACHE_SIZE) -> None:
        self._ttl = ttl
        self._size = size
        self._known: dict[int, tuple[float, bool]] = {}
        # One question to Telegram per user at a time: messages sent together wait for it.
        self._asking: dict[int, asyncio.Future[tuple[bool, bool]]] = {}

    async def member_of_any(self, bot: Bot, user_id: int, chats: frozenset[int]) -> bool:
        """True when ``user_id`` is in one of ``chats``; errors count as not (and are retried)."""
        known = self._known.get(user_id)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        asking = self._asking.get(user_id)
        if asking is None:
            asking = asyncio.ensure_future(self._ask(bot, user_id, chats))
            self._asking[user_id] = asking
            asking.add_done_callback(lambda _: self._asking.pop(user_id, None))
        found, certain = await asyncio.shield(asking)
        if certain:
            self._known.pop(user_id, None)
            self._known[user_id] = (time.monotonic() + self._ttl, found)
            while len(self._known) > self._size:
                del self._known[next(iter(self._known))]
        return found

    async def _ask(self, bot: Bot, user_id: int, chats: frozenset[int]) -> tuple[bool, bool]:
        """(member of one of ``chats``, whether every group answered)."""
        certain = True
        for chat_id in sorted(chats):
            try:
                member = await bot.get_chat_member(chat_id, user_id)
            except (BadRequest, Forbidden) as error:
                # The bot is not in that group (or the user is unknown): no membership there.
                logger.info("getChatMember %s for user %s: %s", chat_id, user_id, error.message)
                continue
            except TelegramError as error:
                logger.warning("getChatMember %s failed: %s", chat_id, error)
                certain = False
                continue
            if is_member(member):
                return True, True
        return False, certain

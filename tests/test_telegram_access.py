"""The allow-list rules for every combination of the three lists, and the real sender."""

from __future__ import annotations

import itertools

import pytest

from bot.channels.telegram.access import Access, Sender, access
from bot.settings import Settings

LISTED, ADMIN, STRANGER = 11, 22, 33
GROUP, OTHER_GROUP, CHANNEL = -1001, -1002, -1009

#: Who writes, and where: (label, chat id, chat type, sender).
CASES = {
    "listed user, private": (LISTED, "private", Sender(LISTED, False, None, None)),
    "admin, private": (ADMIN, "private", Sender(ADMIN, False, None, None)),
    "stranger, private": (STRANGER, "private", Sender(STRANGER, False, None, None)),
    "listed user, allowed group": (GROUP, "supergroup", Sender(LISTED, False, None, None)),
    "stranger, allowed group": (GROUP, "supergroup", Sender(STRANGER, False, None, None)),
    "anonymous admin, allowed group": (GROUP, "supergroup", Sender(GROUP, True, None, None)),
    "channel, allowed group": (GROUP, "supergroup", Sender(CHANNEL, True, None, None)),
    "listed user, other group": (OTHER_GROUP, "group", Sender(LISTED, False, None, None)),
    "admin, other group": (OTHER_GROUP, "group", Sender(ADMIN, False, None, None)),
    "stranger, other group": (OTHER_GROUP, "group", Sender(STRANGER, False, None, None)),
    "channel, other group": (OTHER_GROUP, "supergroup", Sender(CHANNEL, True, None, None)),
}

A, D, M = Access.ALLOW, Access.DENY, Access.IF_MEMBER
#: (ALLOWED_USER_IDS set, ALLOWED_CHAT_IDS set) -> the verdict for each case, in CASES order.
#: ADMIN_USER_IDS set or not changes nothing but the "admin" rows (see below).
TABLE: dict[tuple[bool, bool], tuple[Access, ...]] = {
    (False, False): (A, A, A, A, A, A, A, A, A, A, A),
    (True, False): (A, A, D, A, D, D, D, A, A, D, D),
    (False, True): (M, A, M, A, A, A, A, D, D, D, D),
    (True, True): (A, A, M, A, A, A, A, D, D, D, D),
}


@pytest.mark.parametrize(("users", "chats", "admins"),
                         list(itertools.product([False, True], repeat=3)))
def test_every_combination_of_the_lists(users: bool, chats: bool, admins: bool) -> None:
    settings = Settings.from_mapping({
        "ALLOWED_USER_IDS": str(LISTED) if users else "",
        "ALLOWED_CHAT_IDS": str(GROUP) if chats else "",
        "ADMIN_USER_IDS": str(ADMIN) if admins else "",
    })
    expected = dict(zip(CASES, TABLE[(users, chats)], strict=True))
    if not admins and (users or chats):
        # Without the admin list the admin is a stranger like any other.
        expected["admin, private"] = expected["stranger, private"]
        expected["admin, other group"] = expected["stranger, other group"]
    got = {label: access(settings, chat_id, kind, sender)
           for label, (chat_id, kind, sender) in CASES.items()}
    assert got == expected


def test_a_channel_is_never_a_listed_user() -> None:
    # Channel ids and user ids never collide in Telegram, but a listed number must still
    # name a person: a chat sender is not "listed" even with its id on the user list.
    settings = Settings.from_mapping({"ALLOWED_USER_IDS": str(CHANNEL)})
    assert access(settings, OTHER_GROUP, "supergroup", Sender(CHANNEL, True, None, None)) is D

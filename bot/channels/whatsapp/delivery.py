"""WhatsApp webhook deliveries: their signature, and the messages and failures they carry.

Meta signs every ``POST`` with ``X-Hub-Signature-256: sha256=<hex>``, the HMAC-SHA256 of the
raw body keyed with the app secret (checked with pywa's own validator). A delivery is
``{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages",
"value": {...}}]}]}``; one delivery may batch several messages and several status updates.
Customers are identified by a business-scoped user id (``contacts[].user_id``, e.g.
``US.13491208655302741918``) and, unless they hide it, by their phone number (``wa_id``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pywa.utils import webhook_updates_validator

from bot.audio.recordings import IncomingMedia

logger = logging.getLogger(__name__)

#: Message types whose content is a file with sound that may be transcribed.
MEDIA_TYPES = ("audio", "video", "document", "image")
#: Message types that ask nothing: a reaction, a deleted or an edited earlier message (a
#: business cannot edit its answer on WhatsApp), a system notice (a changed phone number).
SILENT_TYPES = frozenset({"reaction", "revoke", "edit", "system"})


@dataclass(frozen=True)
class Inbound:
    """One customer message, as much of it as KRATOS uses.

    ``identity`` is the business-scoped user id when WhatsApp sends one, else the phone number;
    replies go to it. ``kind`` is ``text``, ``voice``, ``audio``, ``video``, ``document``,
    ``image``, ``silent`` (nothing to answer) or ``other`` (a type KRATOS does not read:
    stickers, locations…). ``timestamp`` is Unix seconds, as WhatsApp stamped it.
    """

    message_id: str
    identity: str
    wa_id: str | None
    timestamp: float
    kind: str
    text: str = ""
    media: IncomingMedia | None = None

    @property
    def identifiers(self) -> frozenset[str]:
        """Every id this customer may be listed under in the allow and admin lists."""
        return frozenset(i for i in (self.identity, self.wa_id) if i)


@dataclass(frozen=True)
class FailedStatus:
    """A status update saying a message KRATOS sent was not delivered (e.g. code 131047,
    "more than 24 hours have passed since the customer last replied")."""

    message_id: str
    code: int | None
    title: str


def signature_ok(app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (``sha256=<hex>``) is the HMAC-SHA256 of ``body`` with the secret."""
    if not header or not app_secret:
        return False
    return webhook_updates_validator(app_secret=app_secret, request_body=body,
                                     x_hub_signature=header)


def parse_delivery(payload: Any) -> tuple[list[Inbound], list[FailedStatus]]:
    """The customer messages and failed statuses in one delivery, in the order sent.

    Changes other than ``messages`` (account, template updates) and malformed entries are
    skipped; raises nothing for any JSON value.
    """
    messages: list[Inbound] = []
    failures: list[FailedStatus] = []
    for value in _message_values(payload):
        contacts = [c for c in value.get("contacts") or [] if isinstance(c, dict)]
        for raw in value.get("messages") or []:
            inbound = _inbound(raw, contacts) if isinstance(raw, dict) else None
            if inbound is not None:
                messages.append(inbound)
        failures += [_failure(status) for status in value.get("statuses") or []
                     if isinstance(status, dict) and status.get("status") == "failed"]
    return messages, failures


def _message_values(payload: Any) -> list[dict[str, Any]]:
    if not isinstance(payload, dict):
        return []
    values = []
    for entry in payload.get("entry") or []:
        for change in (entry.get("changes") or []) if isinstance(entry, dict) else []:
            if (isinstance(change, dict) and change.get("field") == "messages"
                    and isinstance(change.get("value"), dict)):
                values.append(change["value"])
    return values


def _sender(raw: dict[str, Any], contacts: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """(business-scoped id, phone number) of the message's sender."""
    bsuid, wa_id = raw.get("from_user_id"), raw.get("from")
    contact = next((c for c in contacts
                    if (bsuid and c.get("user_id") == bsuid)
                    or (wa_id and c.get("wa_id") == wa_id)), None)
    if contact is None and len(contacts) == 1:
        contact = contacts[0]
    if contact is not None:
        bsuid = bsuid or contact.get("user_id")
        wa_id = wa_id or contact.get("wa_id")
    return (str(bsuid) if bsuid else None), (str(wa_id) if wa_id else None)


def _inbound(raw: dict[str, Any], contacts: list[dict[str, Any]]) -> Inbound | None:
    message_id, kind = raw.get("id"), raw.get("type")
    bsuid, wa_id = _sender(raw, contacts)
    if not message_id or not kind or not (bsuid or wa_id):
        logger.warning("skipped a WhatsApp message without an id, a type or a sender")
        return None
    if "group_id" in raw:
        # KRATOS serves customers one to one; WhatsApp groups are not its place.
        logger.info("skipped WhatsApp message %s sent in a group", message_id)
        return None
    try:
        timestamp = float(raw.get("timestamp") or 0)
    except (TypeError, ValueError):
        timestamp = 0.0
    base = {"message_id": str(message_id), "identity": bsuid or wa_id or "", "wa_id": wa_id,
            "timestamp": timestamp}
    if kind == "text":
        body = (raw.get("text") or {}).get("body") or ""
        return Inbound(**base, kind="text", text=str(body))
    if kind in MEDIA_TYPES and isinstance(raw.get(kind), dict):
        media = _media(kind, raw[kind])
        return Inbound(**base, kind=media.kind, text=str(raw[kind].get("caption") or ""),
                       media=media)
    return Inbound(**base, kind="silent" if kind in SILENT_TYPES else "other")


def _media(kind: str, content: dict[str, Any]) -> IncomingMedia:
    """The media described by a message. WhatsApp gives no size or duration here: the size
    comes with the media URL, the duration from the file itself."""
    if kind == "audio" and content.get("voice"):
        kind = "voice"
    return IncomingMedia(kind=kind, file_id=str(content.get("id") or ""), size=None,
                         duration=None, mime_type=content.get("mime_type"),
                         file_name=content.get("filename"))


def _failure(status: dict[str, Any]) -> FailedStatus:
    errors = status.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    code = first.get("code")
    return FailedStatus(message_id=str(status.get("id") or ""),
                        code=int(code) if isinstance(code, int | str) and str(code).isdigit()
                        else None,
                        title=str(first.get("title") or first.get("message") or ""))

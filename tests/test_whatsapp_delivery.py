"""Reading WhatsApp webhook deliveries: signatures, batched messages, senders, media, statuses."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from bot.channels.whatsapp.delivery import parse_delivery, signature_ok
from tests.fakes.whatsapp_server import FakeWhatsApp

SECRET = "app-secret"


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(("header", "ok"), [
    (signed(b'{"a": 1}'), True),
    (signed(b'{"a": 1}').removeprefix("sha256="), True),  # pywa accepts the bare digest too
    (signed(b'{"a": 2}'), False),  # another body
    (signed(b'{"a": 1}', "other-secret"), False),
    ("sha256=", False),
    ("", False),
    (None, False),
])
def test_the_signature_is_the_hmac_of_the_raw_body(header: str | None, ok: bool) -> None:
    assert signature_ok(SECRET, b'{"a": 1}', header) is ok


def test_an_empty_app_secret_accepts_nothing() -> None:
    assert not signature_ok("", b"{}", signed(b"{}", ""))


def test_a_batched_delivery_yields_every_message_in_order() -> None:
    fake = FakeWhatsApp()
    first = fake.text("PE.1", "hola", wa_id="51911111111")
    voice = fake.voice("PE.2", "777")
    document = fake.document("PE.1", "888", "reunión.m4a", "audio/mp4")
    payload = fake.delivery(first, voice, document)
    payload["entry"][0]["changes"].append({"field": "account_update", "value": {}})

    messages, failures = parse_delivery(json.loads(json.dumps(payload)))

    assert failures == []
    assert [(m.message_id, m.identity, m.wa_id, m.kind) for m in messages] == [
        (first["id"], "PE.1", "51911111111", "text"),
        (voice["id"], "PE.2", None, "voice"),
        (document["id"], "PE.1", "51911111111", "document"),
    ]
    assert messages[0].text == "hola"
    assert messages[0].identifiers == {"PE.1", "51911111111"}
    assert messages[1].media is not None and messages[1].media.file_id == "777"
    assert messages[1].media.download_name == "voice.ogg" and messages[1].media.is_question
    assert messages[2].media is not None and messages[2].media.file_name == "reunión.m4a"
    assert not messages[2].media.is_question


def test_a_phone_only_sender_of_an_older_payload_is_keyed_by_phone_number() -> None:
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "contacts": [{"profile": {"name": "A"}, "wa_id": "51922222222"}],
            "messages": [{"from": "51922222222", "id": "wamid.A", "timestamp": "1700000000",
                          "type": "audio", "audio": {"id": "5", "mime_type": "audio/mpeg"}}],
        }}]}]}
    [message], _ = parse_delivery(payload)
    assert (message.identity, message.wa_id, message.kind) == ("51922222222", "51922222222",
                                                               "audio")
    assert message.timestamp == 1700000000.0


def test_kinds_kratos_does_not_read_and_groups() -> None:
    fake = FakeWhatsApp()
    sticker = fake.message("PE.1", "sticker", {"id": "1", "mime_type": "image/webp"})
    image = fake.message("PE.1", "image", {"id": "2", "mime_type": "image/jpeg",
                                           "caption": "¿tienen esta?"})
    reaction = fake.message("PE.1", "reaction", {"message_id": "wamid.x", "emoji": "👍"})
    deleted = fake.message("PE.1", "revoke", {"original_message_id": "wamid.y"})
    edited = fake.message("PE.1", "edit", {"original_message_id": "wamid.z", "message": {
        "type": "text", "text": {"body": "¿y la más barata?"}}})
    poll = fake.message("PE.1", "unsupported", {"type": "poll"})
    in_group = {**fake.text("PE.1", "hola"), "group_id": "120363"}
    messages, _ = parse_delivery(fake.delivery(sticker, image, reaction, deleted, edited, poll,
                                               in_group))
    assert [m.kind for m in messages] == ["other", "image", "silent", "silent", "silent",
                                          "other"]
    photo = messages[1]
    assert photo.text == "¿tienen esta?" and photo.media is not None
    assert photo.media.file_id == "2"


def test_failed_statuses_are_reported_with_their_code() -> None:
    fake = FakeWhatsApp()
    payload = fake.delivery(statuses=[
        {"id": "wamid.out1", "status": "failed",
         "errors": [{"code": 131047, "title": "Re-engagement message"}]},
        {"id": "wamid.out2", "status": "delivered"},
    ])
    messages, failures = parse_delivery(payload)
    assert messages == []
    assert [(f.message_id, f.code, f.title) for f in failures] == [
        ("wamid.out1", 131047, "Re-engagement message")]


@pytest.mark.parametrize("payload", [
    None, [], "text", 7, {}, {"entry": None}, {"entry": [None]}, {"entry": [{"changes": [7]}]},
    {"entry": [{"changes": [{"field": "messages", "value": {"messages": [{"id": "x"}]}}]}]},
    {"entry": [{"changes": [{"field": "messages", "value": {"messages": ["x"],
                                                            "statuses": [1]}}]}]},
])
def test_malformed_deliveries_yield_nothing_and_raise_nothing(payload: object) -> None:
    assert parse_delivery(payload) == ([], [])

-- WhatsApp: each customer gets a number of KRATOS's own (memory, limits, usage and /stats are
-- keyed by integers), far above any Telegram user id (< 2^52) so the two never meet; and
-- every message id WhatsApp delivered, so a delivery retried after a restart is not answered
-- twice (Meta retries deliveries for days).
CREATE TABLE whatsapp_users (
    user_key    INTEGER PRIMARY KEY AUTOINCREMENT,
    identity    TEXT    NOT NULL UNIQUE,  -- business-scoped user id, else the phone number
    wa_id       TEXT,
    first_seen  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- The first key handed out is 2^60 + 1.
INSERT INTO sqlite_sequence (name, seq) VALUES ('whatsapp_users', 1152921504606846976);

CREATE TABLE whatsapp_messages (
    message_id    TEXT PRIMARY KEY,
    received_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) WITHOUT ROWID;
CREATE INDEX whatsapp_messages_by_time ON whatsapp_messages (received_at);

-- A group upgraded to a supergroup gets a new chat id (Telegram's migrate_to_chat_id). Its
-- conversations move to the new id; the old id is remembered so a group allowed by its old id
-- in ALLOWED_CHAT_IDS keeps being served until the setting is updated.
CREATE TABLE chat_migrations (
    old_chat_id  INTEGER PRIMARY KEY,
    new_chat_id  INTEGER NOT NULL,
    migrated_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX chat_migrations_by_new ON chat_migrations (new_chat_id);

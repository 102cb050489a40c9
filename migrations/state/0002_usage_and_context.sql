-- What each turn cost and ran, for /stats and daily budgets; facts a follow-up needs
-- (the rows a reply was built from) on each message; a shared transcript per conversation.
ALTER TABLE messages ADD COLUMN meta TEXT;

CREATE TABLE usage (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation       TEXT    NOT NULL,
    user_id            INTEGER,
    chat_id            INTEGER,
    created_at         TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    engine             TEXT    NOT NULL,
    outcome            TEXT    NOT NULL,
    prompt_tokens      INTEGER NOT NULL DEFAULT 0,
    completion_tokens  INTEGER NOT NULL DEFAULT 0,
    model_calls        INTEGER NOT NULL DEFAULT 0,
    sql                TEXT,
    latency_ms         REAL
);
CREATE INDEX usage_by_user_day ON usage (user_id, created_at);
CREATE INDEX usage_by_day ON usage (created_at);

CREATE TABLE transcripts (
    conversation  TEXT PRIMARY KEY,
    source_name   TEXT NOT NULL,
    content       TEXT NOT NULL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

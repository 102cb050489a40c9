-- Prompt tokens the model provider served from its prompt cache (OpenAI reports them as
-- usage.prompt_tokens_details.cached_tokens); part of prompt_tokens, shown by /stats.
ALTER TABLE usage ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0;

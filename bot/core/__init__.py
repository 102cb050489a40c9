"""The assistant core: it answers a conversation's question and remembers the conversation.

``assistant.answer`` is the one entry point every channel calls. ``context`` opens what an answer
needs (catalog reader, state database, model client); ``llm`` (with ``completion``, ``endpoint``
and ``prompt``) answers through a language model, ``basic`` (with ``basic_parse`` and
``basic_words``, how customers write) without one. ``answer_rows`` writes an answer from the
rows in one model call; ``model_stream`` reads a streamed completion and ``streaming`` passes on
only the grounded part of a reply still being written. ``memory``, ``state``, ``stats``,
``pacing`` and ``recent_answers`` keep conversations, usage and rate limits per user; ``reply``
and ``language`` are what an answer is made of. The core never imports a channel.
"""

"""The channels KRATOS answers on. Each one receives messages, downloads, replies and formats;
the assistant core (``bot.assistant``) answers and never imports a channel.

``bot.channels.whatsapp`` is the WhatsApp Business Cloud API; ``bot.channels.run`` starts every
configured channel for ``kratos run``, and ``bot.channels.web`` is the one HTTP server their
webhooks share.
"""

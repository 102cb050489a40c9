"""Telegram (python-telegram-bot): ``bot`` holds the handlers' shared steps and the text
commands, ``events`` the other kinds of message (photos, stickers, edits, links, chat moves),
``voice`` the voice notes and recordings, ``stream`` the answer shown while it is written,
``format`` lays replies out in Telegram HTML, ``access`` decides who may ask, ``http`` carries
the Bot API requests, ``webhook`` is its route on the shared webhook server, and ``app`` builds
the Application and serves it.
"""

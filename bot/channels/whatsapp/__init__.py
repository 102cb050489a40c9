"""WhatsApp (Business Cloud API, through pywa): the same assistant on the channel most shop
customers in Peru write on.

``delivery`` reads and authenticates webhook deliveries, ``webhook`` answers Meta's HTTP calls,
``store`` keeps customers' keys and delivered message ids in the state database, ``graph``
talks to the Graph API (over ``transport``: aiohttp under pywa's httpx client), ``format``
lays replies out in WhatsApp's markup and ``channel`` ties them to the assistant core.
"""

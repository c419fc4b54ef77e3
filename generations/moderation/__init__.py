"""Moderation: the review queue at /moderation/, moderators' decisions and their audit log.

`services` reads the queue and records decisions (the admin's actions call it too), `views`
and `urls` are its pages.
"""

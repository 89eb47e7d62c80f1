"""The staff desk: a Telegram Mini App served by carebot (bot/web/routes.py)."""

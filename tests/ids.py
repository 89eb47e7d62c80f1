"""The people and chats every test world shares: the staff group and the first admin (see `settings` in conftest)."""

STAFF_CHAT_ID = -100500
ADMIN_ID = 900001

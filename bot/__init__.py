"""The bot's faces: the command line (ask, chat) and, with a token, Telegram."""

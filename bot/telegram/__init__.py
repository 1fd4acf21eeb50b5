"""The Telegram face (aiogram 3): one router per feature in ``handlers/``, assembled in
``dispatcher.py``; ``runner.py`` serves it by polling or webhook."""

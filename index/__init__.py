"""The retrieval core: documents to chunks, chunks to vectors, questions to grounded answers.

Nothing here knows about Telegram or the database; see README.md for how a question travels.
"""

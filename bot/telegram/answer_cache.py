"""Recent answers by question id, so "查看原文" shows exactly what was retrieved."""

from __future__ import annotations

from collections import OrderedDict

from index import Answer


class AnswerCache:
    def __init__(self, capacity: int = 20_000):
        self.capacity = capacity
        self._items: OrderedDict[str, Answer] = OrderedDict()

    def put(self, question_id: str, answer: Answer) -> None:
        self._items[question_id] = answer
        self._items.move_to_end(question_id)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def get(self, question_id: str) -> Answer | None:
        return self._items.get(question_id)

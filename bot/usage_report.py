"""The admins' usage report: a PNG chart (matplotlib) and a CSV of unanswered questions."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from bot.db.models import Question, TaughtAnswer
from bot.db.repository import TaughtVotes, UsageStats


def usage_chart(stats: UsageStats) -> bytes:
    """Questions per day (answered / not) and the answered share, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no screen; must precede pyplot
    from matplotlib import pyplot as plt

    days = [d.day[5:] for d in stats.days]  # MM-DD
    answered = [d.answered for d in stats.days]
    other = [d.questions - d.answered for d in stats.days]
    share = [d.answered / d.questions * 100 if d.questions else 0.0 for d in stats.days]
    # Labels in English: the bundled DejaVu font has no Chinese glyphs.
    figure, axis = plt.subplots(figsize=(8, 4), dpi=100)
    try:
        axis.bar(days, answered, color="#2e7d32", label="answered")
        axis.bar(days, other, bottom=answered, color="#c62828", label="not answered")
        axis.set_ylabel("questions per day")
        axis.set_title(
            f"Questions since {stats.since:%Y-%m-%d}: {stats.questions}, "
            f"answered {stats.answered}; votes +{stats.votes_up} / -{stats.votes_down}"
        )
        share_axis = axis.twinx()
        share_axis.plot(days, share, color="#1565c0", marker="o", label="answered %")
        share_axis.set_ylim(0, 105)
        share_axis.set_ylabel("answered %")
        handles = axis.get_legend_handles_labels()
        more = share_axis.get_legend_handles_labels()
        axis.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize=8)
        axis.tick_params(axis="x", labelrotation=60, labelsize=7)
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png")
    finally:
        plt.close(figure)
    return out.getvalue()


def unanswered_csv(questions: Sequence[Question]) -> bytes:
    """UTF-8 with a BOM, so spreadsheet programs show the Chinese text correctly."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["asked_at_utc", "question", "index_version"])
    for q in questions:
        writer.writerow([q.asked_at.strftime("%Y-%m-%d %H:%M:%S"), q.text, q.index_version])
    return out.getvalue().encode("utf-8-sig")


def taught_csv(rows: Sequence[TaughtAnswer], votes: dict[int, TaughtVotes]) -> bytes:
    """The taught answers (withdrawn ones marked), their wordings and what workers voted."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["id", "questions", "answer", "revision", "taught_by", "taught_at_utc",
         "updated_by", "updated_at_utc", "withdrawn_at_utc", "votes_up", "votes_down",
         "down_comments"]
    )  # fmt: skip
    for row in rows:
        said = votes.get(row.id, TaughtVotes())
        writer.writerow(
            [
                row.id,
                " | ".join(row.questions),
                row.answer,
                row.revision,
                row.taught_by,
                f"{row.taught_at:%Y-%m-%d %H:%M:%S}",
                row.updated_by,
                f"{row.updated_at:%Y-%m-%d %H:%M:%S}",
                f"{row.withdrawn_at:%Y-%m-%d %H:%M:%S}" if row.withdrawn_at else "",
                said.up,
                said.down,
                " | ".join(said.comments),
            ]
        )
    return out.getvalue().encode("utf-8-sig")

"""Interface strings. Answers always quote the Chinese documents; only the frame is translated."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Texts:
    lang: str
    start: str
    help: str
    examples: tuple[str, ...]
    answer_label: str
    source_label: str
    show_sources: str
    sources_title: str
    not_answered: str
    cannot_ask: str
    reasons: dict[str, str]
    non_text: str
    throttled: str
    thanks: str
    ask_comment: str
    comment_saved: str
    expired: str
    forgot: str
    forget_pending: str
    unknown_command: str
    channel: str
    error: str
    commands: dict[str, str]


ZH = Texts(
    lang="zh",
    start=(
        "您好！我是工会问答助手。\n"
        "我根据内蒙古自治区总工会的工作报告等文件，回答法律援助和劳动纠纷、边境职工关爱、"
        "货车司机之家、技能竞赛、工匠学院、职工文艺演出等方面的问题。\n\n"
        "直接用文字提问即可，也可以点下面的例子："
    ),
    help=(
        "直接发送文字问题，我会引用文件原文回答，并注明出处。\n"
        "点“查看原文”可看完整段落；👍/👎 告诉我回答是否有用。\n"
        "/start 开始  /help 帮助  /forget_me 删除我的记录"
    ),
    examples=("工会能提供法律援助吗？", "边境口岸有货车司机之家吗？", "今年有哪些技能竞赛？"),
    answer_label="答：",
    source_label="出处：",
    show_sources="查看原文",
    sources_title="原文",
    not_answered="抱歉，现有文件里没有找到这个问题的答案。您可以问问这些方面：",
    cannot_ask="没法回答：",
    reasons={
        "empty": "问题是空的，请输入文字问题。",
        "too_long": "问题太长了，请只问一个简短的问题。",
        "no_words": "问题里没有可以查找的文字（只有符号或表情）。",
    },
    non_text="我目前只能理解文字问题，请直接用文字提问。",
    throttled="您问得太快了，请稍等几秒再问。",
    thanks="谢谢反馈！",
    ask_comment="谢谢反馈！可以简单说说哪里不好吗？直接回复这条消息即可（也可以跳过）。",
    comment_saved="已记下您的意见，谢谢！",
    expired="这个按钮已失效，请重新提问。",
    forgot="已删除您的 {count} 条提问以及相关的反馈和记录。",
    forget_pending="删除请求已收到。存储暂时不可用，恢复后会立即执行删除。",
    unknown_command="没有这个命令。可用命令：/start /help /forget_me",
    channel="请在与我的私聊中提问。",
    error="抱歉，处理时出了点问题，请稍后再试。",
    commands={"start": "开始", "help": "使用帮助", "forget_me": "删除我的记录"},
)

EN = Texts(
    lang="en",
    start=(
        "Hello! I answer questions about the services of Inner Mongolia's trade unions.\n"
        "I quote the union federation's work report and other documents: legal aid and labour "
        "disputes, care for border workers, truck-driver rest stations, skills competitions, "
        "craftsman academies, workers' cultural troupes.\n\n"
        "Just type a question, or tap an example:"
    ),
    help=(
        "Send a question as text; I answer by quoting the documents (in Chinese) and say where "
        "the quote comes from.\nTap “Sources” for the full passages; 👍/👎 tells me if it helped.\n"
        "/start  /help  /forget_me deletes what is stored about you"
    ),
    examples=(
        "Does the union provide legal aid?",
        "Are there truck driver homes at the border?",
        "Which skills competitions were held?",
    ),
    answer_label="Answer: ",
    source_label="Section: ",
    show_sources="Sources",
    sources_title="Source",
    not_answered="Sorry, the documents do not answer this. You could ask about:",
    cannot_ask="Cannot answer: ",
    reasons={
        "empty": "the question is empty; please type a question.",
        "too_long": "the question is too long; please ask one short question.",
        "no_words": "the question has no words to look up (only symbols or emoji).",
    },
    non_text="I only understand text questions; please type your question.",
    throttled="You are asking very fast; please wait a few seconds.",
    thanks="Thanks for the feedback!",
    ask_comment="Thanks! What was wrong? Reply to this message in a few words (or skip).",
    comment_saved="Noted, thank you!",
    expired="This button has expired; please ask again.",
    forgot="Deleted your {count} questions and the feedback and records about you.",
    forget_pending="Request received. Storage is unavailable right now; it runs once it is back.",
    unknown_command="Unknown command. Available: /start /help /forget_me",
    channel="Please ask me in a private chat.",
    error="Sorry, something went wrong; please try again later.",
    commands={"start": "Start", "help": "How to use", "forget_me": "Delete my data"},
)


def texts_for(language_code: str | None) -> Texts:
    """English for users whose Telegram language is English; Chinese for everyone else."""
    return EN if (language_code or "").lower().startswith("en") else ZH


def reason_key(reason: str | None) -> str | None:
    """Map the core's refusal reasons to interface strings."""
    if reason is None:
        return None
    if reason.startswith("the question is too long"):
        return "too_long"
    if reason == "the question is empty":
        return "empty"
    if reason.startswith("the question has no words"):
        return "no_words"
    return None

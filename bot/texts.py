"""Interface strings. Answers always quote the Chinese documents; only the frame is translated."""

from __future__ import annotations

from dataclasses import dataclass

from index import Reason, question_script


@dataclass(frozen=True)
class AdminTexts:
    """Replies to admins (and the refusal everyone else gets)."""

    refused: str
    refused_upload: str
    private_only: str
    reload_started: str
    reload_progress: str
    stages: dict[str, str]
    reload_done: str
    reload_failed: str
    reload_button: str
    rollback_done: str
    rollback_failed: str
    status: str
    status_document: str
    pending: str
    pending_file: str
    pending_removed: str
    docs_title: str
    docs_line: str
    docs_indexed: str
    docs_not_indexed: str
    docs_empty: str
    remove_usage: str
    removed: str
    remove_failed: str
    too_big: str
    upload_failed: str
    stored: str
    stored_replaced: str
    stored_unchanged: str
    stats_summary: str
    stats_top: str
    stats_none: str
    export_none: str
    export_caption: str
    unanswered_title: str
    unanswered_line: str
    unanswered_none: str
    teach_prompt: str
    teach_passage_button: str
    teach_usage: str
    taught_saved: str
    taught_edited: str
    taught_withdrawn: str
    taught_title: str
    taught_line: str
    taught_none: str
    edit_prompt: str
    answer_empty: str
    answer_too_long: str
    stale: str
    not_saved: str
    cancelled: str
    text_only: str
    export_taught_caption: str
    # DocumentError codes -> reasons; a code without one shows the core's (English) message.
    document_errors: dict[str, str]
    kinds: dict[str, str]  # what a file really is, for the "mismatch" reason


ADMIN_ZH = AdminTexts(
    refused="抱歉，这个命令只有管理员可以使用。",
    refused_upload="抱歉，只有管理员可以添加文件。我只能回答文字问题，请直接用文字提问。",
    private_only="管理命令只能在与我的私聊中使用。",
    reload_started="⏳ 正在重建索引……问答照常进行，使用的仍是当前版本。",
    reload_progress="⏳ 正在重建索引：{stage}",
    stages={
        "loading model": "加载模型",
        "reading": "读取文件",
        "passages": "计算段落向量 {done}/{total}",
        "sentences": "计算句子向量 {done}/{total}",
        "writing": "写入索引",
        "validating": "检查新版本",
        "switching": "切换版本",
    },
    reload_done=(
        "✅ 已切换到新版本 {version}\n{documents} 个文件，{chunks} 段，用时 {seconds:.1f} 秒。\n"
        "检查：{checks}\n上一版本：{previous}（可用 /rollback 返回）"
    ),
    reload_failed="❌ 重建失败，仍在使用版本 {serving}。\n原因：{reason}",
    reload_button="🔄 重建索引",
    rollback_done="↩️ 已返回版本 {version}（{documents} 个文件，{chunks} 段）；之前是 {previous}。",
    rollback_failed="❌ 无法回退，仍在使用版本 {serving}。\n原因：{reason}",
    status=(
        "当前版本：{version}\n建立于 {created}（用时 {seconds:.1f} 秒），共 {chunks} 段，"
        "{count} 个文件：\n{documents}\n保留的版本：{kept}"
    ),
    status_document="• {title}（{name}，{chunks} 段）",
    pending="⚠️ 文件夹有尚未生效的改动：\n{changes}\n用 /reload 让它们生效。",
    pending_file="• 新增或修改：{name}",
    pending_removed="• 已删除但仍在使用：{name}",
    docs_title="文件夹中的文件：",
    docs_line="{n}. {name}（{size}，{date}）{state}",
    docs_indexed="✅ 已生效",
    docs_not_indexed="⏳ 尚未生效",
    docs_empty="文件夹里没有文件。发送 .txt .md .docx .pdf .html 文件即可添加。",
    remove_usage="用法：/remove 文件名 或 /remove 序号（见 /docs）",
    removed="🗑 已移除 {name}（文件已移到回收目录，未删除）。用 /reload 让改动生效。",
    remove_failed="❌ 无法移除：{reason}",
    too_big="❌ 文件太大（{size}），上限是 {limit}。请拆分或压缩后再发送。",
    upload_failed="❌ 没有保存这个文件：{reason}",
    stored=(
        "✅ 已保存 {name}\n标题：{title}\n{paragraphs} 段，{chars} 字，表格 {rows} 行。\n"
        "点“重建索引”让它生效。"
    ),
    stored_replaced="（同名的旧文件已移到回收目录）",
    stored_unchanged="ℹ️ {name} 与已有文件完全相同，未做改动。",
    stats_summary=(
        "最近 {days} 天：{questions} 个问题，回答了 {answered}（{share:.0%}）。\n👍 {up}  👎 {down}"
    ),
    stats_top="最常见的未回答问题：\n{lines}",
    stats_none="最近 {days} 天还没有问题。",
    export_none="最近 {days} 天没有未回答的问题。",
    export_caption="最近 {days} 天未回答的问题：{count} 条",
    unanswered_title="最近 {days} 天最常见的未回答问题（意思相同的合为一条）。点 ✍️ 编号即可回答：",
    unanswered_line="{n}. {question} ×{count}{more}",
    unanswered_none="最近 {days} 天没有未回答的问题（已教过答案的不再列出）。",
    teach_prompt=(
        "✍️ 请回答：「{question}」\n\n直接发送答案文字（最多 {limit} 字），"
        "工人再问这个问题或类似问题时，我会引用它并注明“工会答复”。\n另起一行以“问：”开头可补充其他问法。\n"
        "也可以点下面的段落，用原文作答。/cancel 取消。"
    ),
    teach_passage_button="📄 用原文：{citation}",
    teach_usage="用法：/teach 问题（然后发送答案），或在 /unanswered 里点 ✍️ 编号。",
    taught_saved=(
        "✅ 已记住（#{id}），所有实例立即生效。\n问法：{questions}\n答：{answer}\n"
        "出处：工会答复（{date}）"
    ),
    taught_edited="✅ 已修改 #{id}（第 {revision} 版）。\n问法：{questions}\n答：{answer}",
    taught_withdrawn="🗑 已撤回 #{id}，以后不再用它回答。",
    taught_title="已教的答案（{count} 条）：",
    taught_line="#{id} · {date} · 👍{up} 👎{down}\n问：{questions}\n答：{answer}{comments}",
    taught_none="还没有教过答案。用 /unanswered 查看工人问了却没有答案的问题。",
    edit_prompt=(
        "✏️ 修改 #{id}：发送新的答案文字（最多 {limit} 字）。只发以“问：”开头的行，则只添加问法、"
        "答案不变。/cancel 取消。\n当前答案：{answer}"
    ),
    answer_empty="答案不能为空，请发送答案文字（或 /cancel 取消）。",
    answer_too_long="答案最多 {limit} 字，现在有 {length} 字，请缩短后再发（或 /cancel 取消）。",
    stale="⚠️ #{id} 刚被另一位管理员修改或撤回，你的改动没有保存。请用 /taught 查看当前版本后再改。",
    not_saved="❌ 数据库暂时不可用，没有保存。请稍后再发一次（或 /cancel 取消）。",
    cancelled="已取消。",
    text_only="请发送文字答案（或 /cancel 取消）。",
    export_taught_caption="已教的答案：{count} 条（含已撤回的）",
    document_errors={
        "unsupported": "不支持这种文件（{suffix}），请发送 .txt .md .docx .pdf 或 .html 文件",
        "mismatch": "文件内容与扩展名不符：它其实是{actual}，而不是{declared}",
        "empty": "文件是空的",
        "no_text": "文件里没有可以用来回答问题的文字",
        "encoding": "文字编码无法识别（不是 UTF-8 或 GB18030），请另存为 UTF-8 后再发送",
        "damaged": "{kind}已损坏，无法读取",
        "zip_bomb": "文件解压后过大（{mb} MB），已拒绝",
        "encrypted": "PDF 设有密码，请发送未加密的版本",
        "no_text_layer": "PDF 没有文字层（可能是扫描件），暂不支持文字识别",
        "bad_name": "文件名无法使用，请改名后再发送",
        "not_found": "文件夹里没有“{name}”（用 /docs 查看文件列表）",
        "storage": "无法保存到文件夹：{reason}",
        "download": "无法从 Telegram 下载这个文件（机器人最多只能下载 20 MB）",
        "unreadable": "读取这个文件时出错，已跳过；请把文件发给维护人员检查",
    },
    kinds={
        "pdf": "PDF 文件",
        "docx": "Word 文档（.docx）",
        "zip": "ZIP 压缩包",
        "damaged-zip": "损坏的 ZIP 压缩包",
        "ole": "旧版 Office 文件（.doc/.xls，请另存为 .docx）",
        "binary": "二进制数据",
        "html": "HTML 网页",
        "text": "纯文本",
        "(none)": "没有扩展名",
    },
)

ADMIN_EN = AdminTexts(
    refused="Sorry, only admins can use this command.",
    refused_upload="Sorry, only admins can add documents. I answer text questions; just type one.",
    private_only="Admin commands work only in a private chat with me.",
    reload_started="⏳ Rebuilding the index… questions are answered from the current version.",
    reload_progress="⏳ Rebuilding the index: {stage}",
    stages={
        "loading model": "loading the model",
        "reading": "reading the documents",
        "passages": "embedding passages {done}/{total}",
        "sentences": "embedding sentences {done}/{total}",
        "writing": "writing the index",
        "validating": "checking the new version",
        "switching": "switching",
    },
    reload_done=(
        "✅ Now serving {version}\n{documents} documents, {chunks} passages, {seconds:.1f} s.\n"
        "Checks: {checks}\nPrevious: {previous} (/rollback returns to it)"
    ),
    reload_failed="❌ The reload failed; still serving {serving}.\nReason: {reason}",
    reload_button="🔄 Rebuild the index",
    rollback_done="↩️ Back to {version} ({documents} documents, {chunks} passages); was {previous}.",
    rollback_failed="❌ Cannot roll back; still serving {serving}.\nReason: {reason}",
    status=(
        "Serving: {version}\nBuilt {created} in {seconds:.1f} s; {chunks} passages from "
        "{count} documents:\n{documents}\nKept versions: {kept}"
    ),
    status_document="• {title} ({name}, {chunks} passages)",
    pending="⚠️ The corpus folder has changes not yet served:\n{changes}\n/reload serves them.",
    pending_file="• new or changed: {name}",
    pending_removed="• removed, still served: {name}",
    docs_title="Documents in the corpus folder:",
    docs_line="{n}. {name} ({size}, {date}) {state}",
    docs_indexed="✅ served",
    docs_not_indexed="⏳ not yet served",
    docs_empty="The corpus folder is empty. Send a .txt .md .docx .pdf or .html file to add one.",
    remove_usage="Usage: /remove FILE_NAME or /remove NUMBER (see /docs)",
    removed="🗑 Removed {name} (moved to the trash folder, not deleted). /reload applies it.",
    remove_failed="❌ Cannot remove: {reason}",
    too_big="❌ The file is too big ({size}); the limit is {limit}. Split or compress it.",
    upload_failed="❌ The file was not stored: {reason}",
    stored=(
        "✅ Stored {name}\nTitle: {title}\n{paragraphs} paragraphs, {chars} characters, "
        "{rows} table rows.\nTap “Rebuild the index” to serve it."
    ),
    stored_replaced="(the old file of the same name was moved to the trash folder)",
    stored_unchanged="ℹ️ {name} is identical to the stored file; nothing changed.",
    stats_summary=(
        "Last {days} days: {questions} questions, {answered} answered ({share:.0%}).\n"
        "👍 {up}  👎 {down}"
    ),
    stats_top="Most frequent unanswered questions:\n{lines}",
    stats_none="No questions in the last {days} days.",
    export_none="No unanswered questions in the last {days} days.",
    export_caption="Unanswered questions, last {days} days: {count}",
    unanswered_title=(
        "Most frequent unanswered questions, last {days} days (same meaning merged). "
        "Tap ✍️ and a number to answer one:"
    ),
    unanswered_line="{n}. {question} ×{count}{more}",
    unanswered_none="No unanswered questions in the last {days} days (taught ones are left out).",
    teach_prompt=(
        "✍️ Answer: “{question}”\n\nSend the answer as text (at most {limit} characters); when "
        "workers ask this or something like it, I quote it as the union's answer.\nLines "
        "starting with “Q:” add other wordings of the question.\nOr tap a passage below to "
        "answer with its text. /cancel to stop."
    ),
    teach_passage_button="📄 Use: {citation}",
    teach_usage="Usage: /teach QUESTION (then send the answer), or tap ✍️ in /unanswered.",
    taught_saved=(
        "✅ Taught (#{id}); every instance uses it now.\nQuestions: {questions}\n"
        "Answer: {answer}\nSource: the union's answer ({date})"
    ),
    taught_edited=(
        "✅ #{id} changed (revision {revision}).\nQuestions: {questions}\nAnswer: {answer}"
    ),
    taught_withdrawn="🗑 #{id} withdrawn; it answers nothing from now on.",
    taught_title="Taught answers ({count}):",
    taught_line="#{id} · {date} · 👍{up} 👎{down}\nQ: {questions}\nA: {answer}{comments}",
    taught_none="Nothing taught yet. /unanswered lists what workers asked that had no answer.",
    edit_prompt=(
        "✏️ Editing #{id}: send the new answer (at most {limit} characters). Only lines starting "
        "with “Q:” add wordings and keep the answer. /cancel to stop.\nNow: {answer}"
    ),
    answer_empty="The answer is empty; send the answer as text (or /cancel).",
    answer_too_long="At most {limit} characters; this has {length}. Shorten it (or /cancel).",
    stale=(
        "⚠️ #{id} was just changed or withdrawn by another admin; your change was not saved. "
        "See /taught for the current version."
    ),
    not_saved=(
        "❌ The database is unavailable; nothing was saved. Send it again later (or /cancel)."
    ),
    cancelled="Cancelled.",
    text_only="Please send the answer as text (or /cancel).",
    export_taught_caption="Taught answers: {count} (withdrawn ones included)",
    document_errors={},  # the core's messages are English already
    kinds={},
)


@dataclass(frozen=True)
class Texts:
    lang: str
    start: str
    help: str
    examples: tuple[str, ...]
    answer_label: str
    source_label: str
    taught_source: str  # a taught answer's citation
    read_with: str  # a follow-up: the earlier question it was read with
    new_topic: str  # the button that reads a follow-up on its own
    new_topic_done: str
    show_sources: str
    sources_title: str
    not_answered: str
    not_answered_ask: str  # followed by questions the bot can answer, as buttons
    cannot_ask: str
    reasons: dict[Reason, str]  # why a question cannot be searched, by the core's code
    non_text: str
    throttled: str
    thanks: str
    thanks_no_comment: str
    ask_comment: str
    comment_saved: str
    expired: str
    forgot: str
    forget_pending: str
    unknown_command: str
    channel: str
    error: str
    unreadable: str
    commands: dict[str, str]
    admin: AdminTexts
    admin_commands: dict[str, str]

    def refusal(self, reason: Reason | None, *, ask_instead: bool = False) -> str:
        """The first line of a reply that does not answer, for the core's reason code (and
        whether questions to ask instead follow it)."""
        if reason is None or reason is Reason.NOT_IN_DOCUMENTS:
            return self.not_answered_ask if ask_instead else self.not_answered
        return self.cannot_ask + self.reasons[reason]


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
    taught_source="工会答复（{date}）",
    read_with="（接着您前面的问题「{question}」理解）",
    new_topic="🆕 这是新问题",
    new_topic_done="好的，这个问题单独理解：",
    show_sources="查看原文",
    sources_title="原文",
    not_answered="抱歉，现有文件里没有找到这个问题的答案。您可以问问这些方面：",
    not_answered_ask="抱歉，现有文件里没有找到这个问题的答案。您可以这样问：",
    cannot_ask="没法回答：",
    reasons={
        Reason.EMPTY: "问题是空的，请输入文字问题。",
        Reason.TOO_LONG: "问题太长了，请只问一个简短的问题。",
        Reason.UNSEARCHABLE: "问题里没有可以查找的文字（只有符号或表情）。",
    },
    non_text="我目前只能理解文字问题，请直接用文字提问。",
    throttled="您问得太快了，请稍等几秒再问。",
    thanks="谢谢反馈！",
    thanks_no_comment="谢谢反馈，已记录！（留言功能暂时不可用，请稍后再试。）",
    ask_comment="谢谢反馈！可以简单说说哪里不好吗？直接回复这条消息即可（也可以跳过）。",
    comment_saved="已记下您的意见，谢谢！",
    expired="这个按钮已失效，请重新提问。",
    forgot="已删除您的 {count} 条提问以及相关的反馈和记录。",
    forget_pending="删除请求已收到。存储暂时不可用，恢复后会立即执行删除。",
    unknown_command="没有这个命令。可用命令：/start /help /forget_me",
    channel="请在与我的私聊中提问。",
    error="抱歉，处理时出了点问题，请稍后再试。",
    unreadable="抱歉，这条消息无法读取（可能是转发或新类型的消息）。请直接输入文字提问。",
    commands={"start": "开始", "help": "使用帮助", "forget_me": "删除我的记录"},
    admin=ADMIN_ZH,
    admin_commands={
        "reload": "重建索引（管理员）",
        "rollback": "返回上一版本（管理员）",
        "status": "当前版本（管理员）",
        "docs": "文件列表（管理员）",
        "remove": "移除文件（管理员）",
        "stats": "使用统计（管理员）",
        "export": "导出未回答问题和已教答案（管理员）",
        "unanswered": "未回答的问题，可教答案（管理员）",
        "taught": "已教的答案：修改、撤回（管理员）",
        "teach": "教一个答案（管理员）",
        "cancel": "取消正在进行的教答案（管理员）",
    },
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
    taught_source="the union's answer ({date})",
    read_with="(read as a follow-up to “{question}”)",
    new_topic="🆕 New question",
    new_topic_done="OK, reading it on its own:",
    show_sources="Sources",
    sources_title="Source",
    not_answered="Sorry, the documents do not answer this. You could ask about:",
    not_answered_ask="Sorry, the documents do not answer this. You could ask:",
    cannot_ask="Cannot answer: ",
    reasons={
        Reason.EMPTY: "the question is empty; please type a question.",
        Reason.TOO_LONG: "the question is too long; please ask one short question.",
        Reason.UNSEARCHABLE: "the question has no words to look up (only symbols or emoji).",
    },
    non_text="I only understand text questions; please type your question.",
    throttled="You are asking very fast; please wait a few seconds.",
    thanks="Thanks for the feedback!",
    thanks_no_comment="Thanks, your vote is saved. (Comments are unavailable right now.)",
    ask_comment="Thanks! What was wrong? Reply to this message in a few words (or skip).",
    comment_saved="Noted, thank you!",
    expired="This button has expired; please ask again.",
    forgot="Deleted your {count} questions and the feedback and records about you.",
    forget_pending="Request received. Storage is unavailable right now; it runs once it is back.",
    unknown_command="Unknown command. Available: /start /help /forget_me",
    channel="Please ask me in a private chat.",
    error="Sorry, something went wrong; please try again later.",
    unreadable=(
        "Sorry, I could not read that message (a forward or a new kind of message). "
        "Please type your question as text."
    ),
    commands={"start": "Start", "help": "How to use", "forget_me": "Delete my data"},
    admin=ADMIN_EN,
    admin_commands={
        "reload": "Rebuild the index (admins)",
        "rollback": "Back to the previous version (admins)",
        "status": "Serving version (admins)",
        "docs": "List documents (admins)",
        "remove": "Remove a document (admins)",
        "stats": "Usage statistics (admins)",
        "export": "Unanswered questions and taught answers as CSV (admins)",
        "unanswered": "Unanswered questions, to teach answers (admins)",
        "taught": "Taught answers: edit, withdraw (admins)",
        "teach": "Teach an answer (admins)",
        "cancel": "Stop teaching (admins)",
    },
)


def texts_for(language_code: str | None, text: str | None = None) -> Texts:
    """The frame of a reply in the language the user wrote in: a question in Chinese gets
    Chinese, one in English gets English, whatever the Telegram language (its official apps
    have no Chinese, so many Chinese workers run them in English). Anything else (a command, a
    button, a file) follows the Telegram language: English for English, Chinese otherwise."""
    if text and not text.lstrip().startswith("/") and any(ch.isalpha() for ch in text):
        return ZH if question_script(text) == "cjk" else EN
    return EN if (language_code or "").lower().startswith("en") else ZH

"""The answering core on the real report: quality thresholds and every kind of odd input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from index import Reason
from index.answering.answerer import _sample, document_topics
from index.answering.evaluation import Outcome, evaluate, load_questions
from tests.support import LAW_QUESTIONS, QUESTIONS, REPO, REPORT_ONLY

pytestmark = pytest.mark.slow


# Never in the bundled off-domain reference or the eval set: poems, weather, trivia, small talk.
OFF_DOMAIN = [
    "帮我写一首关于春天的诗",
    "What is the capital of France?",
    "明天呼和浩特天气怎么样？",
    "今天包头下雪吗？",
    "讲个笑话",
    "hello, how are you?",
    "Who are you?",
    "谁是世界上跑得最快的人？",
    "鄂尔多斯有什么好吃的？",
    "红烧肉怎么做",
    "Can you recommend a good restaurant?",
]


def _recall(outcomes: list[Outcome], kinds: set[str], k: int) -> float:
    group = [o for o in outcomes if o.question.kind in kinds]
    return sum(o.rank is not None and o.rank <= k for o in group) / len(group)


def _share(outcomes: list[Outcome], kind: str, *, answered: bool) -> float:
    group = [o for o in outcomes if o.question.kind == kind]
    return sum(o.answered == answered for o in group) / len(group)


def test_with_the_report_alone_the_question_set_holds_its_measured_quality(core) -> None:  # type: ignore[no-untyped-def]
    """Floors just under what `make eval` measured (README): a regression guard."""
    outcomes = evaluate(core.answerer, load_questions(QUESTIONS, LAW_QUESTIONS), k=5)
    assert _recall(outcomes, {"fact", "colloquial"}, 3) >= 0.95
    assert _recall(outcomes, {"english"}, 3) >= 0.83
    assert _recall(outcomes, {"fact", "colloquial", "english"}, 1) >= 0.85
    report_answerable = [
        o for o in outcomes if o.question.kind in ("fact", "colloquial", "english")
    ]
    assert sum(o.answered for o in report_answerable) / len(report_answerable) >= 0.87
    assert _share(outcomes, "unanswerable", answered=False) >= 0.85
    # Without the laws loaded, every law question is one the documents do not answer.
    assert _share(outcomes, "law_near", answered=False) >= 0.75


def test_with_the_laws_loaded_law_questions_find_their_article(shipped) -> None:  # type: ignore[no-untyped-def]
    """Floors just under what `make eval` measured on the shipped corpus (README)."""
    _, answerer, titles = shipped
    questions = load_questions(QUESTIONS, LAW_QUESTIONS)
    outcomes = evaluate(answerer, questions, k=5, titles=titles)
    assert _recall(outcomes, {"law", "law_english"}, 3) >= 0.72
    assert _recall(outcomes, {"law", "law_english"}, 1) >= 0.48
    assert _recall(outcomes, {"law_english"}, 3) >= 0.58
    assert _recall(outcomes, {"fact", "colloquial"}, 3) >= 0.90
    laws = [o for o in outcomes if o.question.kind in ("law", "law_english")]
    assert sum(o.answered for o in laws) / len(laws) >= 0.90
    assert _share(outcomes, "unanswerable", answered=False) >= 0.60
    assert _share(outcomes, "law_near", answered=False) >= 0.45


@pytest.mark.parametrize("corpus", ["report alone", "report and laws"])
def test_off_domain_requests_are_never_answered(core, shipped, corpus: str) -> None:  # type: ignore[no-untyped-def]
    answerer = core.answerer if corpus == "report alone" else shipped[1]
    answers = answerer.answer_many(OFF_DOMAIN, 5)
    assert [a.question for a in answers if a.answered] == []
    assert all(a.reason == Reason.NOT_IN_DOCUMENTS for a in answers)


def test_a_question_for_an_amount_the_documents_do_not_state_is_not_answered(shipped) -> None:  # type: ignore[no-untyped-def]
    """婚假有几天: the laws mention 婚丧假 (劳动法第五十一条: paid) but never how many days.
    (A passage that states some other amount still gets through: see the README.)"""
    _, answerer, _ = shipped
    days = answerer.answer("婚假有几天？")
    assert not days.answered
    assert days.reason == Reason.NOT_IN_DOCUMENTS


def test_a_question_for_an_amount_is_answered_from_the_article_that_states_it(shipped) -> None:  # type: ignore[no-untyped-def]
    """The trained retriever ranks 劳动法第六十二条 (不少于九十天) above 女职工劳动保护特别规定
    第七条 (98天); the later regulation states the rule in force (superseded.toml)."""
    _, answerer, _ = shipped
    leave = answerer.answer("女职工产假有多少天？")
    assert leave.answered
    assert "98天" in leave.answer


def test_every_superseded_article_and_its_successors_are_in_the_shipped_laws(shipped) -> None:  # type: ignore[no-untyped-def]
    """superseded.toml names articles as citations (《劳动法》第八十二条): each must be an article
    of the shipped corpus, older and newer, or the rule would silently do nothing for it."""
    from index.answering.citations import chunk_answers
    from index.answering.retrieval import in_force_rows, superseded_articles

    _, answerer, _ = shipped
    chunks = answerer.retriever.version.chunks
    pairs = superseded_articles()
    named = set(pairs) | {a for newer in pairs.values() for a in newer}
    missing = [a for a in sorted(named) if not any(chunk_answers(c, [a]) for c in chunks)]
    assert not missing, missing
    rows = in_force_rows(chunks)
    assert {f"《{chunks[r].short_title}》{chunks[r].article}" for r in rows} == set(pairs)


def test_an_article_a_later_law_changes_is_ranked_below_the_rule_in_force(shipped) -> None:  # type: ignore[no-untyped-def]
    """劳动法第八十二条 gives sixty days to apply for arbitration, 劳动争议调解仲裁法第二十七条
    (2007) a year. Without the rule (window 0) the older one came first for this question, and
    was quoted; with it, the one in force comes first and is quoted."""
    from dataclasses import replace

    from index.answering.retrieval import HybridRetriever

    _, answerer, _ = shipped
    retriever = answerer.retriever
    question = "How long do I have to file for arbitration?"
    query = retriever.encoder.encode_queries([question])[0]

    def order(r: HybridRetriever) -> list[str]:
        passages = r.retrieve_encoded(question, query, 10).passages
        places = [f"{p.chunk.short_title}{p.chunk.article}" for p in passages]
        return [a for a in places if a in ("劳动法第八十二条", "劳动争议调解仲裁法第二十七条")]

    params = replace(retriever.params, in_force_window=0)
    without = HybridRetriever(retriever.version, retriever.encoder, params)
    assert order(without) == ["劳动法第八十二条", "劳动争议调解仲裁法第二十七条"]
    assert order(retriever) == ["劳动争议调解仲裁法第二十七条", "劳动法第八十二条"]
    answer = answerer.answer(question)
    assert answer.answered
    assert "时效期间为一年" in answer.answer, answer.answer


def test_the_rule_in_force_moves_only_the_pairs_laws_passages() -> None:
    """Row 0 is an older article, rows 3 and 4 articles in force for it, row 2 another passage of
    those laws and row 1 an admin's. The best article in force under the older one takes its
    place; the laws' passages shift down through the places they held, with those places'
    scores; the admin's passage keeps its place and score."""
    from index.answering.retrieval import HybridRetriever, RetrievalParams

    retriever = object.__new__(HybridRetriever)  # only what the rule reads
    retriever.params = RetrievalParams(in_force_window=10)
    retriever._in_force = {0: (4, 3)}
    retriever._in_pairs = np.array([True, False, True, True, True])
    fused = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    candidates = np.arange(5)
    moved = retriever._rule_in_force(fused, candidates)
    assert list(np.argsort(-moved, kind="stable")) == [3, 1, 0, 2, 4]
    assert moved.tolist() == [3.0, 4.0, 2.0, 5.0, 1.0]
    retriever.params = RetrievalParams(in_force_window=0)
    assert retriever._rule_in_force(fused, candidates) is fused  # off


def test_a_refusal_offers_only_questions_the_bot_answers(shipped) -> None:  # type: ignore[no-untyped-def]
    """Asking an offered question gets an answer: a bank question the bot itself refuses
    (我在口岸拉货，累了有地方洗澡休息不, offered here before the check) is not offered."""
    _, answerer, _ = shipped
    refusals = [
        answerer.answer(q)
        for q in (
            "婚假有几天？",
            "口岸那边有洗澡的地方吗",
            "北京市的最低工资是多少",
            "司机之家晚上几点关门",
        )
    ]
    assert not any(r.answered for r in refusals)
    offered = [q for r in refusals for q in r.ask_instead]
    assert len(offered) >= 3, offered
    for question in offered:
        assert answerer.answer(question).answered, question


def test_a_near_repeat_of_a_question_the_bot_answers_is_answered_too(shipped) -> None:  # type: ignore[no-untyped-def]
    """Refused by the abstention alone, "Can I get unemployment benefits if I quit?" nearly
    repeats the bank's "can i get unemployment benefits if i quit my job", which the bot
    answers (a refusal would offer it) from the passage it ranks first for both: it is answered
    from that passage; a question that is no near repeat is still refused."""
    _, answerer, _ = shipped
    question = "Can I get unemployment benefits if I quit?"
    retrieval = answerer.retriever.retrieve(question, 5)
    assert answerer._verdict(retrieval, repeats=False) is None  # the abstention alone refuses
    answer = answerer.answer(question)
    assert answer.answered, (answer.reason, answer.ask_instead)
    assert (answer.section or "").endswith("第四十五条"), answer.citation
    assert "非因本人意愿中断就业" in answer.answer
    bank = answerer.retriever.version.bank
    similarity = bank.vectors @ retrieval.query_vector
    nearest = bank.questions[int(similarity.argmax())]
    assert nearest == "can i get unemployment benefits if i quit my job"
    assert not answerer.answer("婚假有几天？").answered


@pytest.mark.xfail(
    strict=True,
    reason="the bank by words (bank_lexical_weight) ranks 劳动争议调解仲裁法第二十八条 first: "
    "its bank question 申请劳动仲裁要交什么材料 shares more of the words than 仲裁费多少钱啊 "
    "(第五十三条, second); holding no amount, it is refused. Kept: the signal ranks the dev "
    "questions better (README, The bank by words)",
)
def test_nothing_to_pay_answers_how_much(shipped) -> None:  # type: ignore[no-untyped-def]
    _, answerer, _ = shipped
    fee = answerer.answer("申请劳动仲裁要交多少钱")
    assert fee.answered, fee
    assert (fee.section or "").endswith("第五十三条")
    assert "不收费" in fee.answer


def test_amounts_are_told_from_article_numbers() -> None:
    from index.text import has_quantity

    stated = [
        "试用期最长不得超过六个月",
        "提前三十日",
        "百分之八十",
        "98天",
        "二倍的工资",
        "未满十六周岁",
        "劳动争议仲裁不收费",
    ]
    not_stated = ["依照本法第四十七条规定", "第二项", "由省、自治区、直辖市人民政府规定"]
    assert [has_quantity(t) for t in stated] == [True] * len(stated)
    assert [has_quantity(t) for t in not_stated] == [False] * len(not_stated)


def test_a_question_for_an_amount_is_told_from_a_story_that_counts() -> None:
    from index.answering.retrieval import asks_for_quantity

    asking = [
        "女职工产假有多少天？",
        "试用期辞职要提前几天跟公司说？",
        "每天加班不能超过几个小时？",
        "试用期最长多久",
        "How many days of annual leave do I get?",
        "工作满十年，年假有几天",
        "What is the minimum wage in Inner Mongolia?",
        "what's the overtime rate for weekday overtime?",
        "What are the union dues?",
    ]
    telling = [
        "跟领导反映好几次都没用，能不能直接打电话给政府那边举报？",
        "公司一下子要裁我们车间二十几个人，事先没跟工会说，这合法吗",
        "前几天老板说要把我调到外地，我不同意他就要开除我，能这样吗",
        "请婚假那几天有工资吗",
        "我几乎每天都加班到十点，公司不给加班费怎么办",
        "what is the special wage account on construction sites for",
        "What is my right if the boss fires me?",
    ]
    assert [asks_for_quantity(q) for q in asking] == [True] * len(asking)
    assert [asks_for_quantity(q) for q in telling] == [False] * len(telling)


def test_a_laws_purpose_and_date_of_effect_answer_only_questions_about_the_law(  # type: ignore[no-untyped-def]
    shipped,
) -> None:
    """A law's purpose article ("为了…，制定本法。") and its date of effect ("本法自…起施行")
    share the words of every question about the law and answer none of a worker's: "法律援助需要
    什么条件" was answered with 法律援助法第一条. They rank first only for a question about the
    law itself."""
    from index.answering.retrieval import asks_about_the_law, is_formal_article

    _, answerer, _ = shipped
    chunks = answerer.retriever.version.chunks
    formal = {f"{c.short_title}{c.article}" for c in chunks if is_formal_article(c)}
    assert "法律援助法第一条" in formal
    assert "工伤保险条例第六十七条" in formal
    assert "法律援助法第二条" not in formal  # 法律援助是…: what it is, no formality
    assert len(formal) == 22  # the eleven laws' first and last articles (checked by hand)
    assert asks_about_the_law("工伤保险条例是哪天起生效的")
    assert not asks_about_the_law("法律援助需要什么条件")

    conditions = answerer.answer("法律援助需要什么条件")
    top = answerer.retriever.retrieve(conditions.searched, 5).passages[0].chunk
    assert not is_formal_article(top), top.place
    effect = answerer.answer("工伤保险条例是哪天起生效的")
    assert effect.answered
    assert (effect.document or "").endswith("工伤保险条例"), effect.citation
    assert "本条例自2004年1月1日起施行" in effect.answer


def test_who_ends_the_contract_is_read_from_the_law_and_from_the_question(  # type: ignore[no-untyped-def]
    shipped,
) -> None:
    """A law's passage says who may end the contract: the party that acts on the verb, not one
    named as its object (通知用人单位, 与劳动者); a question has the employer end it (开除,
    fired) or the worker (辞职, quit)."""
    from index.answering.retrieval import asks_who_ends, contract_enders

    _, answerer, _ = shipped
    enders = {
        f"{c.short_title}{c.article}": contract_enders(c.lead + c.text)
        for c in answerer.retriever.version.chunks
        if c.article
    }
    by_worker = {k for k, e in enders.items() if e == {"worker"}}
    by_employer = {k for k, e in enders.items() if e == {"employer"}}
    # Checked by hand against the articles' text. Missed, so neither's: 劳动法第二十七条's
    # layoffs, whose sentence names no party that acts on its verb ("…，可以裁减人员").
    assert by_worker == {
        "劳动合同法第三十七条", "劳动合同法第三十八条", "劳动合同法实施条例第十八条",
        "劳动法第三十一条", "劳动法第三十二条", "工伤保险条例第三十六条",
    }  # fmt: skip
    assert by_employer == {
        "劳动合同法第二十一条", "劳动合同法第三十九条", "劳动合同法第四十条",
        "劳动合同法第四十一条", "劳动合同法第四十二条", "劳动合同法实施条例第十九条",
        "劳动法第二十五条", "劳动法第二十六条", "劳动法第二十九条", "女职工劳动保护特别规定第五条",
    }  # fmt: skip
    assert enders["劳动合同法第六十五条"] == {"worker", "employer"}  # a dispatched worker's both
    assert enders["劳动合同法第三十六条"] == frozenset()  # 协商一致: neither's
    # An admin's law: "…，用人单位不得因此解除…" after "劳动者有权拒绝…" is the employer's.
    assert contract_enders(
        "劳动者有权拒绝从事存在职业病危害的作业，用人单位不得因此解除与劳动者所订立的劳动合同。"
    ) == {"employer"}

    assert asks_who_ends("老板说明天不用来了，这样开除我合法吗") == "employer"
    assert asks_who_ends("Can they lay me off because business is bad?") == "employer"
    assert asks_who_ends("我想辞职，要提前多久跟公司说") == "worker"
    assert asks_who_ends("How much notice do I need to give before I quit?") == "worker"
    assert asks_who_ends("加班费怎么算") is None
    assert asks_who_ends("被辞退后我又辞职了") is None  # both: neither is read

    # "Can my boss fire me without notice?" ranked 劳动法第三十二条 (the worker may leave at once)
    # first, and 劳动合同法第三十八条 above it by the bank: now a rule of the employer's is first.
    for question, party in (
        ("Can my boss fire me without notice?", "employer"),
        ("我想辞职老板不放人怎么办", "worker"),
    ):
        top = answerer.retriever.retrieve(question, 3).passages[0].chunk
        assert contract_enders(top.lead + top.text) == {party}, top.place


def test_a_question_for_a_telephone_number_is_told_from_one_that_mentions_calling() -> None:
    from index.answering.retrieval import asks_for_contact
    from index.text import has_phone_number

    asking = [
        "总工会的维权热线电话是多少?",
        "工会的联系方式是什么",
        "欠薪了打哪个电话",
        "工会服务热线号码多少啊",
        "工会有什么联系方式",
        "What's the union hotline to report unpaid wages?",
        "What number do I call to report unpaid wages?",
        "what is the phone number of the legal aid centre",
    ]
    telling = [
        "跟领导反映好几次都没用，能不能直接打电话给政府那边举报？",
        "打12333电话投诉有用吗",
        "我打了热线电话没人接怎么办",
        "公司电话通知我被开除了，合法吗",
        "老板打电话说什么时候发工资也没个准话，我能去仲裁吗",
        "公司要我的身份证号码干什么用",
        "What is the minimum wage in Inner Mongolia?",
        "Can I call the union for help?",
    ]
    assert [asks_for_contact(q) for q in asking] == [True] * len(asking)
    assert [asks_for_contact(q) for q in telling] == [False] * len(telling)
    stated = ["职工服务热线12351全天接听", "请拨打0471-6961234", "电话：13812345678"]
    not_stated = ["发放20000元", "服务职工12000名", "2025年", "增长12.5%", "共计15000余人"]
    assert [has_phone_number(t) for t in stated] == [True] * len(stated)
    assert [has_phone_number(t) for t in not_stated] == [False] * len(not_stated)


def test_a_telephone_number_is_answered_only_where_a_document_states_one(  # type: ignore[no-untyped-def]
    shipped, settings, encoder, tmp_path: Path
) -> None:
    """Neither the report nor the laws give a telephone number: asked for one, the bot refuses
    (it quoted the union's political work for 内蒙古总工会电话是多少). A document that gives one
    (an admin's) answers with the number."""
    from index import open_answerer
    from index.store.lifecycle import open_corpus

    _, answerer, _ = shipped
    # Both answered with a paragraph of the report before the check (7 December).
    for question in ("内蒙古总工会电话是多少", "总工会的联系电话是什么"):
        refused = answerer.answer(question)
        assert not refused.answered, (question, refused.citation, refused.answer)
    (tmp_path / "nmg-trade-unions-2025.txt").symlink_to(REPORT_ONLY / "nmg-trade-unions-2025.txt")
    (tmp_path / "职工服务指南.txt").write_text(
        "职工服务热线\n\n职工遇到拖欠工资、劳动合同等劳动权益问题，可以拨打自治区总工会职工服务热线"
        "12351咨询求助。热线工作日8:30至17:30有人接听，节假日可以留言。\n",
        "utf-8",
    )
    version = open_corpus(settings, encoder, tmp_path, store="telephone-test")
    told = open_answerer(settings, encoder, version).answer("职工服务热线电话是多少？")
    assert told.answered, (told.reason, [s.citation for s in told.sources[:3]])
    assert "12351" in told.answer


def test_a_law_answer_names_its_law_and_article_and_keeps_an_items_lead(shipped) -> None:  # type: ignore[no-untyped-def]
    _, answerer, _ = shipped
    answer = answerer.answer("试用期最长多久？")
    assert answer.answered
    assert answer.document in ("中华人民共和国劳动法", "中华人民共和国劳动合同法")
    assert re.search(r"第[一二三四五六七八九十]+条$", answer.section or "")
    assert "试用期" in answer.answer
    assert answer.citation.startswith(f"《{answer.document}》")
    item = answerer.answer("公司不给我交社保，我可以解除劳动合同吗？")
    if "（三）" in item.answer:  # an item is quoted with the sentence it completes
        assert item.answer.startswith("用人单位有下列情形之一的，劳动者可以解除劳动合同")
    assert item.sources[0].document.startswith("中华人民共和国")


def test_a_quote_that_announces_a_list_states_what_is_on_it(shipped) -> None:  # type: ignore[no-untyped-def]
    """An announcement ("有下列情形之一的，…按照下列标准支付…：") alone says there are standards,
    not what they are: a short list comes whole (the three overtime rates), a long one by the
    item asked about (of 工伤保险条例第十四条's seven, the way to and from work, not the
    catch-all 其他情形 that shares the announcement's word 工伤)."""
    _, answerer, _ = shipped
    overtime = answerer.answer("加班费怎么算？")
    assert overtime.answered
    assert (overtime.section or "").endswith("第四十四条"), overtime.citation
    assert overtime.answer.startswith("有下列情形之一的")
    for rate in ("百分之一百五十", "百分之二百", "百分之三百"):
        assert rate in overtime.answer, overtime.answer
    commute = answerer.answer("上班路上被电动车撞了算工伤吗")
    assert commute.answered
    assert (commute.section or "").endswith("第十四条"), commute.citation
    assert commute.answer.startswith("职工有下列情形之一的，应当认定为工伤：")
    assert "上下班途中" in commute.answer, commute.answer
    assert "其他情形" not in commute.answer, commute.answer
    assert len(commute.answer) < 120  # one item of seven, not the whole list
    # An item of a short list, quoted for being nearest the question, comes with the rest of its
    # list: the public-holiday rate alone answered a question about weekends.
    weekend = answerer.answer("周末加班给多少钱")
    assert weekend.answered
    assert (weekend.section or "").endswith("第四十四条"), weekend.citation
    assert "休息日安排劳动者工作又不能安排补休的，支付不低于工资的百分之二百" in weekend.answer


@pytest.mark.parametrize(
    ("question", "article", "case"),
    [
        ("工伤认定有哪些情形", "第十四条", "(六)在上下班途中"),
        ("哪些情况可以随时辞职", "第三十八条", "（二）未及时足额支付劳动报酬的"),
    ],
)
def test_a_question_for_a_lists_cases_gets_the_cases_not_its_catch_all(  # type: ignore[no-untyped-def]
    shipped, question: str, article: str, case: str
) -> None:
    """A list's catch-all item ("(七)法律、行政法规规定应当认定为工伤的其他情形。") restates its
    announcement and says nothing of its own: both questions were answered with it alone. Asked
    which cases there are, the answer is the cases."""
    _, answerer, _ = shipped
    answer = answerer.answer(question)
    assert answer.answered, (answer.reason, [s.citation for s in answer.sources[:3]])
    assert (answer.section or "").endswith(article), answer.citation
    assert case in answer.answer, answer.answer


def test_a_catch_all_item_is_told_from_an_item_that_says_something() -> None:
    from index.answering.extraction import is_catch_all

    catch_alls = (
        "（六）法律、行政法规规定劳动者可以解除劳动合同的其他情形。",
        "(七)法律、行政法规规定应当认定为工伤的其他情形。",
        "（四）法律法规规定的其他情形。",
        "（五）法律、法规、规章规定的其他情形。",
    )
    items = (
        "（五）其他收入。",  # an income of its own kind
        "（四）劳动者同时与其他用人单位建立劳动关系，对完成本单位的工作任务造成严重影响，或者经用人单位提出，拒不改正的；",
        "法律、行政法规规定的其他情形。",  # no item
    )
    assert all(map(is_catch_all, catch_alls))
    assert not any(map(is_catch_all, items))


def test_an_item_of_a_law_is_quoted_with_the_sentence_that_announces_its_list() -> None:
    """An item longer than a unit runs on through its commas; its continuation is no item, and
    no announcement either: the lead of an item is the nearest unit that announces a list."""
    from index.answering.extraction import _item_spans, _lead_index
    from index.ingest.chunking import Chunk

    units = (
        "职工因工致残被鉴定为七级至十级伤残的，享受以下待遇：",
        "（一）从工伤保险基金按伤残等级支付一次性伤残补助金，",
        "标准为：七级伤残为13个月的本人工资，",
        "十级伤残为7个月的本人工资；",
        "（二）劳动、聘用合同期满终止的，由用人单位支付一次性伤残就业补助金。",
        "一次性工伤医疗补助金的具体标准由省、自治区、直辖市人民政府规定。",
    )
    chunk = Chunk(
        chunk_id="c", doc_id="d", doc_title="工伤保险条例", section="第五章 工伤保险待遇",
        kind="article", text="".join(units), sentences=units, article="第三十七条",
    )  # fmt: skip
    assert _item_spans(units, 0) == [(1, 3), (4, 4)]  # the next 款 is no item
    assert _lead_index(chunk, 4) == 0  # not "十级伤残为7个月的本人工资；"
    assert _lead_index(chunk, 0) is None  # the announcement is no item


def test_a_quote_of_a_law_is_never_a_clause_without_the_rest_of_its_sentence() -> None:
    """A long sentence of a law is divided into units at its commas; a unit quoted alone can say
    the opposite ("向其支付…三倍的数额支付" without "月工资高于…三倍的，"), so a quote widens to
    the sentence's start and end, and an item (a line of its own) stops it."""
    from index.answering.extraction import _whole_sentences

    units = (
        "经济补偿按劳动者在本单位工作的年限，每满一年支付一个月工资的标准向劳动者支付。",
        "劳动者月工资高于本地区上年度职工月平均工资三倍的，",
        "向其支付经济补偿的标准按职工月平均工资三倍的数额支付，",
        "向其支付经济补偿的年限最高不超过十二年。",
        "职工因工致残被鉴定为七级至十级伤残的，享受以下待遇：",
        "（一）从工伤保险基金按伤残等级支付一次性伤残补助金，",
        "标准为：七级伤残为13个月的本人工资，",
        "十级伤残为7个月的本人工资；",
        "（二）劳动、聘用合同期满终止的，",
    )
    assert _whole_sentences(units, 2, 2) == (1, 3)  # the condition and the rest of the rule
    assert _whole_sentences(units, 0, 0) == (0, 0)  # a whole sentence stays as it is
    assert _whole_sentences(units, 6, 6) == (5, 7)  # an item's clauses, not the lead nor the next
    assert _whole_sentences(units, 8, 8) == (8, 8)  # the last unit: nothing after it

    # In a law, clauses joined by "；" are one rule (职工带薪年休假条例第三条's three tiers); an
    # item still stops the quote, and the report keeps its full-width "；" as a sentence end.
    tiers = (
        "职工累计工作已满1年不满10年的，年休假5天；",
        "已满10年不满20年的，年休假10天；",
        "已满20年的，年休假15天。",
        "国家法定休假日、休息日不计入年休假的假期。",
    )
    assert _whole_sentences(tiers, 0, 0, law=True) == (0, 2)
    assert _whole_sentences(tiers, 1, 1, law=True) == (0, 2)
    assert _whole_sentences(tiers, 1, 1) == (1, 1)
    assert _whole_sentences(units, 7, 7, law=True) == (5, 7)  # "；" then an item: stop


@pytest.mark.parametrize(
    ("question", "article", "figure"),
    [
        # 工伤保险条例第三十七条 lists the lump sum for each grade in one sentence divided at
        # its commas; its opening clause alone ("七级伤残为13个月的本人工资，") left out the
        # tenth grade.
        ("工伤十级伤残一次性伤残补助金给几个月工资", "第三十七条", "十级伤残为7个月的本人工资"),
        # 职工带薪年休假条例第三条 gives the leave for each length of service in one sentence
        # whose tiers are joined by "；"; the first tier alone ("已满1年不满10年的，年休假5天；")
        # answered a worker of twelve years with the wrong number of days.
        ("我参加工作十二年了，一年能休几天年假", "第三条", "已满10年不满20年的，年休假10天"),
    ],
    ids=["grade", "tier"],
)
def test_a_quote_states_the_figure_for_the_case_asked_about(  # type: ignore[no-untyped-def]
    shipped, question: str, article: str, figure: str
) -> None:
    _, answerer, _ = shipped
    answer = answerer.answer(question)
    assert answer.answered, (answer.reason, [s.citation for s in answer.sources[:3]])
    assert (answer.section or "").endswith(article), answer.citation
    assert figure in answer.answer, answer.answer


def test_answer_quotes_the_report_verbatim_with_its_section(core) -> None:  # type: ignore[no-untyped-def]
    answer = core.answerer.answer("在中俄蒙边境口岸打造了多少个货车司机之家？")
    assert answer.answered
    assert "打造40个货车司机之家" in answer.answer
    assert answer.section == "以实干担当在奋力书写中国式现代化 内蒙古新篇章征程中贡献工会力量"
    report = Path(__file__).resolve().parents[1] / "corpus" / "nmg-trade-unions-2025.txt"
    assert answer.answer in "".join(report.read_text("utf-8").split("\n"))
    assert len(answer.sources) == 5
    assert answer.sources[0].score >= answer.sources[-1].score


def test_unanswerable_question_says_so_and_suggests_topics(core) -> None:  # type: ignore[no-untyped-def]
    answer = core.answerer.answer("工会会费每个月交多少？")
    assert not answer.answered
    assert answer.reason == Reason.NOT_IN_DOCUMENTS
    assert len(answer.sources) == 5  # still listed, for transparency
    assert 1 <= len(answer.suggestions) <= 6
    assert all("铸魂聚力" not in s for s in answer.suggestions)  # words, not the report's slogans


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        ("", Reason.EMPTY),
        ("   \t\n  ", Reason.EMPTY),
        ("\u200b\u200d\ufeff", Reason.EMPTY),
        ("😀👍🙏", Reason.UNSEARCHABLE),
        ("？？！！……。。", Reason.UNSEARCHABLE),
        ("工" * 1001, Reason.TOO_LONG),
        ("工" * 20_000, Reason.TOO_LONG),
    ],
)
def test_input_that_cannot_be_asked_gets_a_reason(core, question: str, reason: Reason) -> None:  # type: ignore[no-untyped-def]
    answer = core.answerer.answer(question)
    assert not answer.answered
    assert answer.reason is reason
    assert answer.sources == ()
    assert answer.answer == ""
    assert answer.suggestions


@pytest.mark.parametrize(
    "question",
    [
        "货车\u200b司机\u200d之家\x07有几个？",  # zero-width and control characters inside
        "How many 货车司机之家 were built? 🚚",  # mixed scripts and emoji
        "\u202e货车司机之家有多少个",  # a right-to-left override
        "<b>货车司机之家</b> & 多少个",  # markup-looking text
    ],
)
def test_odd_but_real_questions_are_answered_cleanly(core, question: str) -> None:  # type: ignore[no-untyped-def]
    answer = core.answerer.answer(question)
    assert answer.answered, answer
    assert re.search(r"40个货车司机之家", answer.answer)


def test_a_refusal_far_from_every_question_shows_questions_the_bot_answers(shipped) -> None:  # type: ignore[no-untyped-def]
    """Nothing in the bank is near "今天天气怎么样", so the refusal shows what the documents
    cover: each document the bank knows by a question the bot answers from it (issue 17: not
    the report's words "建设、立足本职、中华民族、教育、全区、总工会")."""
    _, answerer, titles = shipped
    refusal = answerer.answer("今天天气怎么样")
    assert not refusal.answered
    assert not refusal.ask_instead
    assert len(refusal.suggestions) == 6  # the first six of the twelve documents
    assert not any("立足本职" in line for line in refusal.suggestions), refusal.suggestions
    for line in refusal.suggestions:
        law, _, question = line.rpartition("：")
        answer = answerer.answer(question)
        assert answer.answered, line
        assert (answer.document or "").endswith(law or titles[0]), (line, answer.citation)


def test_a_refusal_tags_only_the_documents_it_shows(shipped) -> None:  # type: ignore[no-untyped-def]
    _, answerer, titles = shipped
    chunks = answerer.retriever.version.chunks
    every = document_topics(chunks)
    assert len(every) == len(titles)  # the report and the eleven laws
    assert document_topics(chunks, limit=3) == every[:3]


def test_the_shared_words_of_a_large_corpus_come_from_a_bounded_sample() -> None:
    sections = {f"doc{n}": {"第一章": f"第{n}号文件。" + "劳动合同" * 500} for n in range(3000)}
    sample = _sample(sections)
    assert len(sample) <= 1_000_000
    assert all(f"第{n}号文件" in sample for n in (0, 1500, 2999))


@pytest.mark.parametrize("adapter", ["bundled", "none"])
def test_the_shipped_abstention_weighs_every_feature_the_way_it_means(adapter: str) -> None:
    """A re-fit must not turn a feature against its meaning: closeness to a passage speaks for
    answering, a missing rare noun and likeness to an off-domain question against (a re-fit
    that turned the share of the question's words the nearest passages hold negative refused a
    question whose every word a passage holds: that feature is gone since; README)."""
    from index.answering.abstention import AbstentionModel, abstention_path

    model = AbstentionModel.load(abstention_path(adapter))
    # Each fit is for its own model (the base model's scores spread otherwise).
    assert ("+adapter-" in str(model.provenance["model"])) == (adapter != "none")
    weight = dict(zip(model.features, model.weights, strict=True))
    expected_sign = {
        "passage_z": 1,
        "unit_z": 1,
        "missing_noun": -1,
        "off_domain_similarity": -1,
    }
    assert set(weight) == set(expected_sign)
    assert {name: weight[name] * sign > 0 for name, sign in expected_sign.items()} == dict.fromkeys(
        expected_sign, True
    )


@pytest.mark.slow
def test_a_larger_corpus_does_not_raise_the_bar_past_the_one_the_abstention_was_fitted_on(  # type: ignore[no-untyped-def]
    shipped,
) -> None:
    """More documents let the off-domain questions reach further (the best of more passages),
    which lowered every question's standing against them: with 26 more social-law documents
    loaded, a quarter of the answerable law questions were refused (README). The fit reads a
    version's reference no higher than the highest it was fitted on; a smaller corpus still
    lowers it."""
    from dataclasses import replace

    from index.answering.abstention import AbstentionModel, abstention_features
    from index.answering.retrieval import HybridRetriever

    _, answerer, _ = shipped
    retriever = answerer.retriever
    model = AbstentionModel.load()
    reference = retriever.version.reference
    # The shipped fit's ceiling is the shipped corpus's own reference: nothing moves there.
    for script, means in model.reference_ceiling.items():
        for kind, mean in means.items():
            assert reference[script][kind][0] == pytest.approx(mean, abs=1e-4)

    def shifted(by: float) -> HybridRetriever:
        moved = dict(reference)
        for script in ("cjk", "latin"):
            moved[script] = {
                **reference[script],
                **{
                    kind: [reference[script][kind][0] + by, reference[script][kind][1]]
                    for kind in ("passage", "unit")
                },
            }
        version = replace(retriever.version, reference=moved)
        return HybridRetriever(version, retriever.encoder, retriever.params)

    larger, smaller = shifted(0.07), shifted(-0.07)
    for question in ("加班费怎么算？", "How long can a probation period last?"):
        (searched,) = answerer.retrievals([question])
        assert searched is not None
        at_home = model.features_of(searched, retriever)
        raised = abstention_features(searched, larger)  # without a ceiling
        assert raised["passage_z"] < at_home["passage_z"]
        assert raised["unit_z"] < at_home["unit_z"]
        read = model.features_of(searched, larger)
        assert read["passage_z"] == pytest.approx(at_home["passage_z"], abs=1e-3)
        assert read["unit_z"] == pytest.approx(at_home["unit_z"], abs=1e-3)
        lowered = model.features_of(searched, smaller)
        assert lowered["passage_z"] > at_home["passage_z"]
        assert lowered["unit_z"] > at_home["unit_z"]


def test_runs_of_symbols_are_not_searched_but_a_question_of_symbols_is_still_unsearchable() -> None:
    from index.answering.answerer import check_question

    assert check_question("*_[]()~`>#+-=|{}.! 货车司机之家有多少个") == (
        "货车司机之家有多少个",
        None,
    )
    assert check_question("工资呢？？？") == ("工资呢", None)
    assert check_question("加班费怎么算?!") == ("加班费怎么算?!", None)  # two marks are wording
    assert check_question("a+b=c?") == ("a+b=c?", None)
    assert check_question("？？！！……。。") == ("", Reason.UNSEARCHABLE)


def test_calibration_asks_a_dialogue_turn_by_turn_as_the_bot_does(shipped, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The abstention is fitted on what the bot searches: a follow-up read with the turn before
    (retrievals() searches as answer_many() does), each dev turn one example, and the share of
    answerable questions promised measured on the questions that stand alone."""
    import json

    from index.answering.abstention import AbstentionModel, abstention_features
    from index.answering.conversation_eval import as_questions, load_dialogues
    from index.answering.evaluation import CALIBRATION_MIN_ANSWERED, calibrate

    _, answerer, titles = shipped
    first = answerer.answer("边境口岸有货车司机之家吗？")
    (searched,) = answerer.retrievals(["建了几个？"], previous=[first.context])
    follow_up = answerer.answer("建了几个？", previous=first.context)
    assert searched is not None
    assert searched.question == follow_up.searched != "建了几个？"
    assert [p.chunk.chunk_id for p in searched.passages] == [
        s.passage_id for s in follow_up.sources
    ]
    assert answerer.retrievals(["？？！！"]) == [None]  # not searchable: no example

    questions = [q for q in load_questions(QUESTIONS, LAW_QUESTIONS) if q.split == "dev"]
    dialogues = [as_questions(d) for d in load_dialogues(REPO / "eval" / "dialogues.jsonl")]
    dev_turns = sum(len(d) for d in dialogues if d[0].split == "dev")
    path = tmp_path / "abstention.json"
    calibrate([(answerer, titles)], questions, path, dialogues=dialogues)
    fitted = json.loads(path.read_text("utf-8"))
    reference = answerer.retriever.version.reference  # one corpus: its own is the highest
    assert fitted["reference_ceiling"] == {
        script: {kind: reference[script][kind][0] for kind in ("passage", "unit")}
        for script in ("cjk", "latin")
    }
    dev_dialogues = sum(1 for d in dialogues if d[0].split == "dev")
    assert fitted["provenance"]["examples"] == len(questions) + dev_turns
    assert fitted["provenance"]["follow_up_turns"] == dev_turns - dev_dialogues
    model = AbstentionModel.load(path)
    standalone = questions + [d[0] for d in dialogues if d[0].split == "dev"]
    answerable = [q.question for q in (q.resolved(titles) for q in standalone) if q.answerable]
    margins = [
        model.margin(abstention_features(r, answerer.retriever))
        for r in answerer.retrievals(answerable)
        if r is not None
    ]
    assert sum(m >= 0 for m in margins) / len(answerable) >= CALIBRATION_MIN_ANSWERED


@pytest.mark.parametrize(
    ("earlier", "follow_up"),
    [("试用期最长多久？", "那明天天气呢？"), ("加班费怎么算？", "那讲个笑话呢"),
     ("How many hours a day can my employer make me work?", "what about the weather tomorrow?"),
     ("边境口岸有货车司机之家吗？", "那有几颗行星呢？")],
)  # fmt: skip
def test_an_off_domain_follow_up_is_still_refused(shipped, earlier: str, follow_up: str) -> None:  # type: ignore[no-untyped-def]
    """A follow-up's likeness to off-domain questions is not measured (read with an answered
    turn, it is in the documents' domain by the conversation; README): what keeps trivia out
    then is that no passage is near what it asks."""
    _, answerer, _ = shipped
    first = answerer.answer(earlier)
    assert first.answered
    answer = answerer.answer(follow_up, previous=first.context)
    assert answer.searched != follow_up  # read with the earlier turn
    assert not answer.answered
    assert answer.reason is Reason.NOT_IN_DOCUMENTS


def test_a_short_follow_up_is_answered_from_the_passage_its_earlier_turn_found(shipped) -> None:  # type: ignore[no-untyped-def]
    _, answerer, _ = shipped
    first = answerer.answer("边境口岸有货车司机之家吗？")
    for follow_up in ("建了几个？", "有几个？"):
        answer = answerer.answer(follow_up, previous=first.context)
        assert answer.answered
        assert "40个货车司机之家" in answer.answer

"""Operations: /healthz, /livez and /metrics of a running bot in polling mode (its ops port;
the webhook server serves them too: tests/test_faults.py), scraped by a real Prometheus server
(Debian's ``prometheus`` package, which `.ci/run` installs) that sees the question counter move."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.bot_process import BotProcess, deployment
from tests.chat import free_port, wait_listening
from tests.support import REPO
from tests.telegram_stub import BotApiStub, message_update

pytestmark = pytest.mark.slow

QUESTIONS = ["蹲点工作化解了多少件劳动纠纷？", "关爱行动服务了多少边境职工？", "今天天气怎么样？"]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class Prometheus:
    """A real Prometheus server scraping ``target`` every second, with its HTTP API."""

    def __init__(self, target: str, folder: Path):
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.skip("Debian's prometheus package is not installed (.ci/run installs it)")
        self.port = free_port()
        config = folder / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: unionqa\n"
            f"    static_configs:\n      - targets: ['{target}']\n"
        )
        self.log = (folder / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_listening(self.port)
        deadline = time.monotonic() + 60  # listening comes before ready (its storage opens)
        while get(f"http://127.0.0.1:{self.port}/-/ready")[0] != 200:
            assert time.monotonic() < deadline, "Prometheus did not become ready"
            time.sleep(0.2)

    def query(self, expression: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expression}
        )
        status, body = get(url)
        assert status == 200, body
        result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
        return result

    def value(self, expression: str) -> float | None:
        found = self.query(expression)
        return float(found[0]["value"][1]) if found else None

    def wait(self, expression: str, predicate: Any, timeout: float = 60.0) -> float | None:
        deadline = time.monotonic() + timeout
        value = self.value(expression)
        while not (value is not None and predicate(value)):
            if time.monotonic() > deadline:
                return value
            time.sleep(0.5)
            value = self.value(expression)
        return value

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


def test_healthz_is_503_until_an_index_is_loaded_and_prometheus_sees_the_questions_counted(
    stub: BotApiStub, converted_model: Path, tmp_path: Path
) -> None:
    """A fresh data folder: the bot builds its first index at start, and meanwhile a load
    balancer sees 503 (live, not ready); once it serves, 200. Then a real Prometheus scrapes it
    while three questions are asked."""
    data_dir, corpus_dir = deployment(tmp_path, converted_model)
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}",
        "PATHS__CORPUS_DIR": str(corpus_dir),
    }
    with BotProcess(stub, data_dir, tmp_path / "bot.log", **env) as bot:
        seen = _health_until_ready(bot.ops_url)
        assert seen[:1] == [503], bot.log()[-2000:]
        assert seen[-1] == 200, bot.log()[-2000:]
        bot.wait_started()
        status, body = get(f"{bot.ops_url}/healthz")
        assert (status, json.loads(body)["database"]) == (200, "reachable")
        assert json.loads(body)["index_version"]
        assert get(f"{bot.ops_url}/livez")[0] == 200

        prometheus = Prometheus(bot.ops_url.removeprefix("http://"), tmp_path)
        try:
            assert prometheus.wait('up{job="unionqa"}', lambda v: v == 1) == 1
            before = prometheus.wait("sum(unionqa_questions_total)", lambda v: v >= 0)
            assert before == 0
            for i, question in enumerate(QUESTIONS):
                stub.push(message_update(900_001 + i, question))
            for i in range(len(QUESTIONS)):
                stub.wait_sent(900_001 + i, 0)
            counted = prometheus.wait("sum(unionqa_questions_total)", lambda v: v >= 3)
            answered = prometheus.value('unionqa_questions_total{outcome="answered"}')
            refused = prometheus.value('unionqa_questions_total{outcome="refused"}')
            latency = prometheus.value("unionqa_answer_seconds_count")
            version = prometheus.query("unionqa_index_version_info")
        finally:
            prometheus.stop()
        status, page = get(f"{bot.ops_url}/metrics")
        assert bot.stop() == 0
    assert status == 200
    assert 'unionqa_writes_total{result="set_aside"} 0.0' in page
    # Every metric the shipped alert rules use is one the bot exports.
    used = set(re.findall(r"unionqa_[a-z_]+", (REPO / "deploy" / "alerts.yml").read_text()))
    assert used
    assert {name for name in used if name not in page} == set()
    assert counted == 3
    assert (answered, refused) == (2, 1)  # the weather is not in the documents
    assert latency == 3
    assert len(version) == 1
    assert version[0]["metric"]["version"]


def _health_until_ready(url: str, timeout: float = 180.0) -> list[int]:
    """The statuses ``/healthz`` answered, each change once, until 200 (or ``timeout``)."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while 200 not in seen and time.monotonic() < deadline:
        try:
            status, _ = get(f"{url}/healthz")
        except OSError:  # not listening yet (imports), or between the two servers
            time.sleep(0.05)
            continue
        if not seen or seen[-1] != status:
            seen.append(status)
        time.sleep(0.05)
    return seen


def test_the_shipped_alert_rules_and_prometheus_config_are_valid() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("Debian's prometheus package is not installed (.ci/run installs it)")
    for args in (["check", "rules", "alerts.yml"], ["check", "config", "prometheus.yml"]):
        done = subprocess.run(
            [promtool, *args], cwd=REPO / "deploy", capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr

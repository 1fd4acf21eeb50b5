"""The default encoder (the bundled model exported to ONNX, float32) and its int8 variant
against the model on torch: the same space, the same roles, the same token counts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from index.model.onnx_encoder import (
    FILES,
    MARKER,
    WEIGHTS_SUFFIX,
    WORD_TABLE,
    OnnxEncoder,
    onnx_supported,
)
from tests.support import REPO, question_set

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def int8_encoder(encoder, served_model) -> OnnxEncoder:  # type: ignore[no-untyped-def]
    return OnnxEncoder(served_model, encoder.path, backend="onnx-int8")


def _texts() -> tuple[list[str], list[str]]:
    questions = [str(q["question"]) for q in question_set()][:60]
    report = (REPO / "corpus" / "nmg-trade-unions-2025.txt").read_text("utf-8")
    return questions, [p for p in report.split("\n") if len(p) > 20][:40]


def _cosines(fast, slow) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    questions, passages = _texts()
    return [
        (fast.encode_queries(questions) * slow.encode_queries(questions)).sum(axis=1),
        (fast.encode_passages(passages) * slow.encode_passages(passages)).sum(axis=1),
    ]


def test_the_default_encoder_is_the_onnx_export_and_gives_the_torch_vectors(
    encoder, torch_encoder
) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(encoder, OnnxEncoder)
    assert encoder.model_name == torch_encoder.model_name  # same vectors: indexes are shared
    assert encoder.dim == torch_encoder.dim == 384
    for cosines in _cosines(encoder, torch_encoder):
        assert cosines.min() >= 0.9999, cosines.min()
    _, passages = _texts()
    for text in [*passages[:5], "", "工" * 2000]:  # the chunker counts every token
        assert encoder.count_tokens(text) == torch_encoder.count_tokens(text)


def test_the_int8_export_stays_close_to_the_float_model_under_a_name_of_its_own(
    int8_encoder, torch_encoder, served_model
) -> None:  # type: ignore[no-untyped-def]
    assert int8_encoder.model_name.startswith(f"{served_model.name}+onnx-int8/v")
    for cosines in _cosines(int8_encoder, torch_encoder):
        # With the adapter merged, int8 strays further than it did from the base model (min
        # 0.994): measured min 0.944 (README); int8 is not the default.
        assert cosines.min() >= 0.93, cosines.min()
        assert np.median(cosines) >= 0.975, np.median(cosines)


def test_a_text_gets_the_same_vector_whatever_it_is_encoded_with(int8_encoder) -> None:  # type: ignore[no-untyped-def]
    """Dynamic int8 scales activations per run: texts run one at a time, so a question's
    vector (and a cached passage's) never depends on what else was being encoded."""
    texts = ["试用期最长多久？", "工会能帮我打官司吗？这是一个比较长的问题，带着很多字。", "年假"]
    together = int8_encoder.encode_queries(texts)
    alone = np.vstack([int8_encoder.encode_queries([t]) for t in texts])
    np.testing.assert_array_equal(together, alone)


def test_the_export_is_marked_with_its_source_and_only_mean_pooling_is_exported(
    encoder, converted_model
) -> None:  # type: ignore[no-untyped-def]
    marker = json.loads((encoder.path / MARKER).read_text("utf-8"))
    assert len(marker["source_sha256"]) == 64
    assert onnx_supported(converted_model)
    assert not onnx_supported(encoder.path)  # no modules.json: not a sentence-transformers folder


def test_the_float_graph_runs_fused_operators_and_the_int8_graph_is_quantised_unfused(
    encoder,
) -> None:  # type: ignore[no-untyped-def]
    """The export fuses each layer's attention, bias + GELU and residual + layer norm (ONNX
    Runtime's transformer optimiser); the parity test above holds for the fused graph."""
    from collections import Counter

    import onnx

    def operators(name: str) -> Counter[str]:
        graph = onnx.load(str(encoder.path / name), load_external_data=False).graph
        return Counter(node.op_type for node in graph.node)

    fused, quantised = operators(FILES["onnx"]), operators(FILES["onnx-int8"])
    layers = 12  # multilingual-e5-small
    assert fused["Attention"] == fused["BiasGelu"] == layers, fused
    assert fused["SkipLayerNormalization"] == 2 * layers, fused
    assert fused["Softmax"] == fused["Erf"] == 0, fused  # nothing left unfused
    assert quantised["Attention"] == 0, quantised
    assert quantised["Softmax"] == layers, quantised


def test_the_word_table_stays_on_disk_outside_the_graph(encoder) -> None:  # type: ignore[no-untyped-def]
    # The graph starts from word vectors: the 250,037 x 384 table is a flat file the encoder
    # reads rows of (never loaded or mapped whole), and the graph's own weights are the rest.
    table = encoder.path / WORD_TABLE
    assert table.stat().st_size == 250_037 * encoder.dim * 4
    graph_weights = (encoder.path / (FILES["onnx"] + WEIGHTS_SUFFIX)).stat().st_size
    assert graph_weights < 100e6  # the transformer without its 384 MB table
    (vector,) = encoder.encode_queries(["试用期最长多久"])
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_a_long_text_is_cut_as_a_truncating_tokenizer_cuts_it(encoder) -> None:  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer

    truncating = Tokenizer.from_file(str(encoder.path / "tokenizer.json"))
    truncating.no_padding()
    truncating.enable_truncation(encoder.max_tokens)
    report = (REPO / "corpus" / "nmg-trade-unions-2025.txt").read_text("utf-8")
    for text in (report[:3000], report[:40], "passage: " + report[5000:9000]):
        assert encoder._token_ids(text) == truncating.encode(text).ids
    assert len(encoder._token_ids(report[:3000])) == encoder.max_tokens
    assert encoder.count_tokens(report[:3000]) > encoder.max_tokens

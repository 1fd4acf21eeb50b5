"""Typed settings of the retrieval core, loaded from ``config.toml`` with environment overrides.

The bot's settings (``bot.settings``) extend :class:`CoreSettings`, so there is one settings
object per process and one file. Precedence, highest first: the flat variables listed in
``FLAT_ENV`` (e.g. ``DATA_DIR``), nested variables ``SECTION__KEY``, then the TOML file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_CONFIG_FILE = Path("config.toml")
# The model whose weights ship in a package (index.model.provisioning converts them).
DEFAULT_MODEL = "intfloat/multilingual-e5-small"


class PathsSettings(BaseModel):
    data_dir: Path = Path("var")
    corpus_dir: Path = Path("corpus")


class EmbeddingSettings(BaseModel):
    model: str = DEFAULT_MODEL
    device: str = "cpu"
    batch_size: int = Field(default=32, ge=1, le=1024)
    # "onnx": the model exported to ONNX on first use and run by ONNX Runtime in float32 (the
    # same vectors as torch, about twice as fast, no torch in memory); "onnx-int8": the export
    # quantised to int8 (about 4x faster, a quarter of the size; recall measured slightly
    # different, see README); "torch": sentence-transformers on PyTorch.
    backend: Literal["onnx", "onnx-int8", "torch"] = "onnx"
    # CPU threads the encoder uses; 0: the cores the machine has (a serving bot leaves
    # build_threads of them to a reload it starts, so the two never oversubscribe the cores).
    threads: int = Field(default=0, ge=0, le=256)
    # Threads of a reload started by a serving bot (the child process that builds).
    build_threads: int = Field(default=1, ge=1, le=256)
    # The LoRA adapter trained for workers' questions (`python -m index train`), merged into
    # the model at provisioning: "bundled" (index/model/adapter), a folder, or "none".
    adapter: str = "bundled"

    def serving_threads(self) -> int:
        """Threads for a process that answers while reloads may build beside it."""
        return self.threads or max(1, (os.cpu_count() or 1) - self.build_threads)


class IndexSettings(BaseModel):
    # Passages gather whole sentences up to this many characters (measured: README, Retrieval).
    max_chars: int = Field(default=160, ge=20, le=2000)
    # Above this many passages FAISS uses HNSW (approximate) instead of exact inner product.
    approximate_above: int = Field(default=20000, ge=1)
    keep_versions: int = Field(default=5, ge=1)
    # A reload is refused unless the new version answers each of these (besides its self-check).
    check_questions: list[str] = Field(default_factory=list)


class RetrievalSettings(BaseModel):
    top_k: int = Field(default=5, ge=1, le=50)
    lexical_weight: float = Field(default=0.2, ge=0)
    unit_weight: float = Field(default=1.0, ge=0)
    quantity_penalty: float = Field(default=0.3, ge=0)
    # A law's purpose or date-of-effect article, unless the question asks about the law itself.
    formal_penalty: float = Field(default=2.0, ge=0)
    # Among this many passages ranked first, an article a later law changes (劳动法第八十二条)
    # is placed below the article in force (index/answering/superseded.toml). 0: off.
    in_force_window: int = Field(default=20, ge=0)
    # A question that has one party end the contract (被开除 / 辞职): a law's passage that says
    # only the other may loses this many standard scores. 0: off.
    ender_penalty: float = Field(default=4.0, ge=0)
    bank_weight: float = Field(default=4.0, ge=0)
    bank_floor_sd: float = Field(default=2.0, ge=0)
    bank_lexical_weight: float = Field(default=2.0, ge=0)
    # A follow-up read with the earlier turn: the passages of the documents that answered it
    # gain this many standard scores (eval/dialogues.jsonl; README).
    context_weight: float = Field(default=1.0, ge=0)


class FlatEnvSource(PydanticBaseSettingsSource):
    """Reads well-known flat variables (``DATA_DIR``) into their nested place."""

    def __init__(self, settings_cls: type[BaseSettings], mapping: dict[str, tuple[str, str]]):
        super().__init__(settings_cls)
        self._mapping = mapping

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole dict

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for variable, (section, key) in self._mapping.items():
            raw = os.environ.get(variable)
            if raw is not None and raw != "":
                values.setdefault(section, {})[key] = raw
        return values


class CoreSettings(BaseSettings):
    """Settings the retrieval core needs; constructor keywords are the TOML file's layer."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore")

    FLAT_ENV: ClassVar[dict[str, tuple[str, str]]] = {"DATA_DIR": ("paths", "data_dir")}

    paths: PathsSettings = Field(default_factory=PathsSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as constructor keywords, so they rank below the environment.
        nested_env = EnvSettingsSource(settings_cls, env_nested_delimiter="__")
        return (FlatEnvSource(settings_cls, cls.FLAT_ENV), nested_env, init_settings)

    @classmethod
    def load(cls, config_file: Path | None = None) -> Self:
        """Load from ``config_file`` (default: ``$CONFIG_FILE`` or ./config.toml), then env."""
        path = config_file or Path(os.environ.get("CONFIG_FILE") or DEFAULT_CONFIG_FILE)
        file_values: dict[str, Any] = {}
        if path.is_file():
            with path.open("rb") as handle:
                file_values = tomllib.load(handle)
        elif config_file is not None:
            raise FileNotFoundError(f"config file not found: {path}")
        return cls(**file_values)

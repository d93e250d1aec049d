"""Settings from environment variables (prefix ``VERBATIM_``) and an optional ``.env``.

Built once in the entry point and passed down; nothing reads the environment at import
time. A wrong value becomes one readable line (:class:`SettingsError`), not a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from index import DEFAULT_MODEL, ChunkingParams, EngineConfig, VerbatimError
from index.config import DEFAULT_LEXICAL_THRESHOLD, DEFAULT_THRESHOLD

ENV_PREFIX = "VERBATIM_"

IdList = Annotated[list[int], NoDecode]


class SettingsError(VerbatimError):
    """A setting has a value that cannot be used."""


class Settings(BaseSettings):
    """Everything Verbatim can be told; each field is ``VERBATIM_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # The engine
    docs_dir: Path = Field(Path("docs"), description="Folder of documents to answer from.")
    index_dir: Path = Field(Path(".verbatim/index"), description="Where the index is stored.")
    model: str = Field(DEFAULT_MODEL, min_length=1, description="sentence-transformers model: the bundled one, a local folder, or a cached name.")
    device: str = Field("cpu", description="Torch device: cpu, cuda, cuda:N or mps.")
    backend: Literal["auto", "torch", "onnx", "onnx-int8"] = Field(
        "auto", description="Embedding backend: auto (ONNX int8 on CPU, else torch), torch, onnx or onnx-int8."
    )
    model_cache_dir: Path | None = Field(None, description="Where the exported ONNX model is cached (default: models/ beside the index directory).")
    allow_download: bool = Field(False, description="Let a non-bundled model be downloaded from the Hugging Face hub.")
    chunk_size: int = Field(800, ge=100, le=8000, description="Largest chunk, in characters (about 4 per model token).")
    chunk_overlap: int = Field(1, ge=0, le=5, description="Sentences repeated between neighbouring chunks.")
    top_k: int = Field(3, ge=1, le=10, description="Passages quoted per answer.")
    retriever: Literal["hybrid", "dense", "lexical"] = Field("hybrid", description="How passages are found.")
    threshold: float = Field(DEFAULT_THRESHOLD, ge=-1.0, le=1.0, description="Cosine similarity below which the answer is 'not in the documents'.")
    lexical_threshold: float = Field(DEFAULT_LEXICAL_THRESHOLD, ge=0.0, le=1.0, description="Same, for lexical-only retrieval: share of question words quoted.")
    learned_ranking: bool = Field(True, description="Rank with the shipped learned models and judge answers as answered / not sure / not found; off: cosine + coverage, two outcomes.")
    not_sure_threshold: float | None = Field(None, ge=0.0, le=1.0, description="Confidence below which an answer is 'not sure' (default: the models' own cut; see README, Answer quality).")
    not_found_threshold: float | None = Field(None, ge=0.0, le=1.0, description="Confidence below which it is 'not found'.")
    quote_max_chars: int = Field(500, ge=50, le=1500, description="Character budget of one quote (one to three sentences).")
    max_question_chars: int = Field(2000, ge=10, le=20000, description="Longest question accepted.")
    max_document_mb: float = Field(20.0, gt=0, le=1024, description="Larger documents are skipped with a warning.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("WARNING", description="Log verbosity.")
    log_format: Literal["text", "json"] = Field("text", description="Log lines as text or JSON objects.")

    # The Discord bot
    discord_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("VERBATIM_DISCORD_TOKEN", "DISCORD_TOKEN"),
        description="The bot's token (DISCORD_TOKEN also works).",
    )
    dev_guild_id: int | None = Field(None, description="Sync commands to this server at once (development).")
    moderator_role_ids: IdList = Field(default_factory=list, description="Roles that may /reindex besides Manage Server.")
    help_channel_ids: IdList = Field(default_factory=list, description="Channels (or forums) whose new posts are answered.")
    auto_answer: bool = Field(False, description="Answer new messages in the help channels in a thread.")
    cooldown_seconds: float = Field(10.0, ge=0, le=3600, description="Per-user pause between questions.")
    feedback_file: Path = Field(Path(".verbatim/feedback.jsonl"), description="Where 👍/👎 and unanswered questions are recorded.")
    discord_api_base: str | None = Field(None, description="Override Discord's API base URL (tests only).")
    discord_gateway_url: str | None = Field(None, description="Override Discord's gateway URL (tests only).")

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        value = value.strip().lower()
        if value in ("cpu", "cuda", "mps") or (value.startswith("cuda:") and value[5:].isdigit()):
            return value
        raise ValueError("must be cpu, cuda, cuda:N or mps")

    @field_validator("moderator_role_ids", "help_channel_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            documents_dir=self.docs_dir,
            index_dir=self.index_dir,
            model=self.model,
            device=self.device,
            chunking=ChunkingParams(max_chars=self.chunk_size, overlap=self.chunk_overlap),
            top_k=self.top_k,
            retriever=self.retriever,
            threshold=self.threshold,
            lexical_threshold=self.lexical_threshold,
            learned_ranking=self.learned_ranking,
            not_sure_threshold=self.not_sure_threshold,
            not_found_threshold=self.not_found_threshold,
            quote_max_chars=self.quote_max_chars,
            max_question_chars=self.max_question_chars,
            max_document_bytes=int(self.max_document_mb * 1024 * 1024),
        )


def _env_name(loc: tuple[Any, ...]) -> str:
    field_name = str(loc[0]) if loc else "?"
    if field_name == "discord_token":
        return "DISCORD_TOKEN"
    return ENV_PREFIX + field_name.upper()


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; overrides (from command-line flags) win over the environment."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            value = error.get("input")
            shown = "" if isinstance(value, dict) or error["type"] == "missing" else f" (got {value!r})"
            problems.append(f"{_env_name(error['loc'])}: {error['msg']}{shown}")
        raise SettingsError("Invalid setting: " + "; ".join(problems) + ".") from None

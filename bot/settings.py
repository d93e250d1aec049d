"""Settings from environment variables (prefix ``VERBATIM_``) and an optional ``.env``.

Built once in the entry point and passed down; nothing reads the environment at import
time. A wrong value becomes one readable line (:class:`SettingsError`), not a traceback.
The engine's defaults and choices come from ``index/`` (:class:`EngineConfig` and friends):
this module only says how each is spelled in the environment and what range is sensible.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import not_a_folder
from index import RETRIEVERS, ChunkingParams, EngineConfig, VerbatimError
from index.build import FOLDER_SOURCE
from index.config import DEFAULT_QDRANT_COLLECTION, TOP_K_MAX, VECTOR_STORES, QdrantConfig
from index.onnx_embedding import BACKENDS, DEFAULT_BACKEND, default_cache_dir
from index.sources import SourceSpec, read_sources_file
from index.store import live_sources
from index.units import MB

ENV_PREFIX = "VERBATIM_"
ENV_FILE = ".env"
# Variables with the prefix that are read by something else (the hand-run benchmarks).
NOT_SETTINGS_PREFIXES = ("VERBATIM_BENCH_",)

IdList = Annotated[list[int], NoDecode]
_ENGINE = EngineConfig()  # the engine's own defaults


class SettingsError(VerbatimError):
    """A setting has a value that cannot be used."""


class Settings(BaseSettings):
    """Everything Verbatim can be told; each field is ``VERBATIM_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # The engine
    docs_dir: Path = Field(_ENGINE.documents_dir, description="Folder of documents to answer from.")
    index_dir: Path = Field(_ENGINE.index_dir, description="Where the index is stored.")
    sources_file: Path = Field(
        Path("verbatim.toml"),
        description="What is indexed: folders, git repositories and websites (README, Sources). Without the file, the documents folder.",
    )
    model: str = Field(
        _ENGINE.model,
        min_length=1,
        description="sentence-transformers model: the bundled one, a local folder, or a cached name.",
    )
    device: str = Field(_ENGINE.device, description="Torch device: cpu, cuda, cuda:N or mps.")
    backend: Literal[BACKENDS] = Field(  # type: ignore[valid-type]
        DEFAULT_BACKEND, description="Embedding backend: auto (ONNX int8 on CPU, else torch), torch, onnx or onnx-int8."
    )
    model_cache_dir: Path | None = Field(
        None, description="Where the exported ONNX model is cached (default: the user's cache directory)."
    )
    allow_download: bool = Field(False, description="Let a non-bundled model be downloaded from the Hugging Face hub.")
    chunk_size: int = Field(
        _ENGINE.chunking.max_chars,
        ge=100,
        le=8000,
        description="Largest chunk, in characters (about 4 per model token).",
    )
    chunk_overlap: int = Field(
        _ENGINE.chunking.overlap, ge=0, le=5, description="Sentences repeated between neighbouring chunks."
    )
    top_k: int = Field(_ENGINE.top_k, ge=1, le=TOP_K_MAX, description="Passages quoted per answer.")
    retriever: Literal[RETRIEVERS] = Field(_ENGINE.retriever, description="How passages are found.")  # type: ignore[valid-type]
    threshold: float = Field(
        _ENGINE.threshold,
        ge=0.0,
        lt=1.0,
        description="Cosine similarity below which the answer is 'not in the documents'.",
    )
    lexical_threshold: float = Field(
        _ENGINE.lexical_threshold,
        ge=0.0,
        le=1.0,
        description="Same, for lexical-only retrieval: share of question words quoted.",
    )
    learned_ranking: bool = Field(
        _ENGINE.learned_ranking,
        description="Rank with the shipped learned models and judge answers as answered / not sure / not found; off: cosine + coverage, two outcomes.",
    )
    reader: bool = Field(
        _ENGINE.reader,
        description="Let the shipped reader (a model that reads question and passage together) reorder the first passages and judge the answer; off: the learned ranker alone, faster.",
    )
    not_sure_threshold: float | None = Field(
        _ENGINE.not_sure_threshold,
        ge=0.0,
        le=1.0,
        description="Confidence below which an answer is 'not sure' (default: the models' own cut; see README, Answer quality).",
    )
    not_found_threshold: float | None = Field(
        _ENGINE.not_found_threshold, ge=0.0, le=1.0, description="Confidence below which it is 'not found'."
    )
    quote_max_chars: int = Field(
        _ENGINE.quote_max_chars, ge=50, le=1500, description="Character budget of one quote (one to three sentences)."
    )
    max_question_chars: int = Field(
        _ENGINE.max_question_chars, ge=10, le=20000, description="Longest question accepted."
    )
    max_document_mb: float = Field(
        _ENGINE.max_document_bytes / MB, gt=0, le=1024, description="Larger documents are skipped with a warning."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("WARNING", description="Log verbosity (any case).")
    log_format: Literal["text", "json"] = Field("text", description="Log lines as text or JSON objects.")

    # The Discord bot
    discord_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("VERBATIM_DISCORD_TOKEN", "DISCORD_TOKEN"),
        description="The bot's token (DISCORD_TOKEN also works).",
    )
    dev_guild_id: int | None = Field(None, gt=0, description="Sync commands to this server at once (development).")
    moderator_role_ids: IdList = Field(
        default_factory=list, description="Roles that may /reindex besides Manage Server."
    )
    help_channel_ids: IdList = Field(
        default_factory=list, description="Channels (or forums) whose new posts are answered."
    )
    max_upload_mb: float = Field(8.0, gt=0, le=25, description="Largest document /docs add accepts.")
    mod_log_channel: int | None = Field(
        None,
        description="Moderator log channel: scheduled source syncs, and each unanswered or 👎 question (a server can choose its own with /config).",
    )
    auto_answer: bool = Field(False, description="Answer new messages in the help channels in a thread.")
    cooldown_seconds: float = Field(10.0, ge=0, le=3600, description="Per-user pause between questions.")
    feedback_file: Path = Field(
        Path(".verbatim/feedback.jsonl"),
        description="The JSON-lines record of earlier versions: imported into VERBATIM_DB once, then no longer written.",
    )
    db: Path = Field(
        Path(".verbatim/verbatim.sqlite3"),
        description="The SQLite record of questions, 👍/👎 and per-server settings (/config).",
    )
    db_retention_days: float = Field(
        90, gt=0, le=36500, description="Questions and votes older than this are deleted from the record."
    )
    answer_in_thread: bool = Field(
        False, description="Answer a mention in a new thread on the question (a server can change it with /config)."
    )
    private_answers: bool = Field(
        False, description="Answer /ask privately, seen by the asker alone (a server can change it with /config)."
    )
    health_file: Path = Field(
        Path(".verbatim/health.json"), description="Where the running bot writes its health, read by verbatim health."
    )
    shard_count: int | None = Field(
        None,
        ge=1,
        le=16384,
        description="Gateway shards in all (discord.py AutoShardedBot); unset: one unsharded connection.",
    )
    shard_ids: Annotated[list[int] | None, NoDecode] = Field(
        None,
        description="The shards this process runs, e.g. 0,1 (needs VERBATIM_SHARD_COUNT; default: all). The process with shard 0 syncs sources.",
    )
    vector_store: Literal[VECTOR_STORES] = Field(  # type: ignore[valid-type]
        _ENGINE.vector_store,
        description="Where vectors and BM25 live: faiss (files in the index) or qdrant (a collection per build).",
    )
    qdrant_url: str | None = Field(
        None, description="The Qdrant server or cluster (vector store qdrant), e.g. http://qdrant:6333."
    )
    qdrant_path: Path | None = Field(
        None, description="A folder for Qdrant's embedded local mode (vector store qdrant; one process at a time)."
    )
    qdrant_api_key: SecretStr | None = Field(None, description="The Qdrant server's API key, if it wants one.")
    qdrant_collection: str = Field(
        DEFAULT_QDRANT_COLLECTION,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="The alias of the live collection; each build's collection is <alias>-<index id>-<build>.",
    )
    discord_api_base: str | None = Field(None, description="Override Discord's API base URL (tests only).")
    discord_gateway_url: str | None = Field(None, description="Override Discord's gateway URL (tests only).")

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        value = value.strip().lower()
        if value in ("cpu", "cuda", "mps") or (value.startswith("cuda:") and value[5:].isdigit()):
            return value
        raise ValueError("must be cpu, cuda, cuda:N or mps")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("backend", "retriever", "log_format", "vector_store", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("moderator_role_ids", "help_channel_ids", "shard_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    @field_validator("moderator_role_ids", "help_channel_ids")
    @classmethod
    def _discord_ids(cls, value: list[int]) -> list[int]:
        wrong = [n for n in value if n <= 0]
        if wrong:
            raise ValueError(f"{wrong[0]} is no Discord id (ids are positive numbers)")
        return value

    @field_validator("index_dir", "model_cache_dir", "qdrant_path")
    @classmethod
    def _a_folder(cls, value: Path | None) -> Path | None:
        problem = value and (not_a_folder(value) or not_a_folder(value.parent, within=value))
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("health_file", "feedback_file")
    @classmethod
    def _a_file(cls, value: Path) -> Path:
        problem = (value.is_dir() and f"{value} is a folder, not a file") or not_a_folder(value.parent, within=value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _not_found_below_not_sure(self) -> Settings:
        sure, found = self.not_sure_threshold, self.not_found_threshold
        if sure is not None and found is not None and found > sure:
            raise SettingsError(
                f"VERBATIM_NOT_FOUND_THRESHOLD ({found}) is above VERBATIM_NOT_SURE_THRESHOLD ({sure}): "
                "an answer is 'not found' below the first and 'not sure' below the second."
            )
        return self

    @model_validator(mode="after")
    def _shards_within_count(self) -> Settings:
        if not self.shard_ids:  # unset or empty: every shard of the count runs here
            self.shard_ids = None
            return self
        if self.shard_count is None:
            raise SettingsError("VERBATIM_SHARD_IDS needs VERBATIM_SHARD_COUNT (how many shards there are in all).")
        outside = sorted({i for i in self.shard_ids if not 0 <= i < self.shard_count})
        if outside:
            raise SettingsError(
                f"VERBATIM_SHARD_IDS: shard {', '.join(map(str, outside))} is outside 0..{self.shard_count - 1} "
                f"(VERBATIM_SHARD_COUNT={self.shard_count})."
            )
        if len(set(self.shard_ids)) != len(self.shard_ids):
            raise SettingsError(f"VERBATIM_SHARD_IDS: a shard is named twice ({self.shard_ids}).")
        return self

    @model_validator(mode="after")
    def _one_qdrant_location(self) -> Settings:
        if self.qdrant_url is not None and not self.qdrant_url.strip():
            self.qdrant_url = None
        given = [name for name, value in (("URL", self.qdrant_url), ("PATH", self.qdrant_path)) if value is not None]
        if self.vector_store == "qdrant" and len(given) != 1:
            raise SettingsError(
                "VERBATIM_VECTOR_STORE=qdrant needs exactly one of VERBATIM_QDRANT_URL (a server or cluster) "
                "and VERBATIM_QDRANT_PATH (a local-mode folder)" + (", not both." if given else "; neither is set.")
            )
        if self.vector_store == "faiss" and given:
            raise SettingsError(
                f"VERBATIM_QDRANT_{given[0]} is set but VERBATIM_VECTOR_STORE is faiss: "
                "set VERBATIM_VECTOR_STORE=qdrant to use Qdrant, or unset it."
            )
        return self

    def qdrant(self) -> QdrantConfig | None:
        if self.vector_store != "qdrant":
            return None
        key = self.qdrant_api_key.get_secret_value() if self.qdrant_api_key else None
        return QdrantConfig(url=self.qdrant_url, path=self.qdrant_path, api_key=key, collection=self.qdrant_collection)

    @property
    def sharded(self) -> bool:
        """Is the bot an AutoShardedBot (one or more shards of several, maybe in several processes)?"""
        return self.shard_count is not None

    @property
    def index_writer(self) -> bool:
        """Does this process build the index and run scheduled syncs? Only one process may:
        the one running shard 0 (every process, unsharded, is the only one)."""
        return self.shard_ids is None or 0 in self.shard_ids

    def sources(self) -> tuple[SourceSpec, ...] | None:
        """The sources file's sources; None when there is none (the documents folder is indexed)."""
        if self.sources_file.is_file():
            return read_sources_file(self.sources_file)
        if "sources_file" in self.model_fields_set:
            raise SettingsError(f"VERBATIM_SOURCES_FILE: {self.sources_file} does not exist.")
        return None

    def documents_dir(self) -> Path:
        """The folder to index without a sources file: the one named (flag or setting), else
        the one the index was built from, else docs/. An index never silently swaps folders."""
        if "docs_dir" in self.model_fields_set:
            return self.docs_dir
        remembered = live_sources(self.index_dir).get(FOLDER_SOURCE)
        if remembered and remembered.get("kind") == "folder":
            return Path(remembered["location"])
        return self.docs_dir

    def engine_config(self) -> EngineConfig:
        sources = self.sources()
        return EngineConfig(
            sources=sources,
            documents_dir=self.documents_dir() if sources is None else self.docs_dir,
            index_dir=self.index_dir,
            model=self.model,
            device=self.device,
            chunking=ChunkingParams(max_chars=self.chunk_size, overlap=self.chunk_overlap),
            top_k=self.top_k,
            retriever=self.retriever,
            threshold=self.threshold,
            lexical_threshold=self.lexical_threshold,
            learned_ranking=self.learned_ranking,
            reader=self.reader,
            not_sure_threshold=self.not_sure_threshold,
            not_found_threshold=self.not_found_threshold,
            quote_max_chars=self.quote_max_chars,
            max_question_chars=self.max_question_chars,
            max_document_bytes=int(self.max_document_mb * MB),
            vector_store=self.vector_store,
            qdrant=self.qdrant(),
        )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MB)

    def model_cache(self) -> Path:
        """Where the exported model lives: the setting, else the user's cache directory
        (shared by every working folder, so the export happens once per user)."""
        return self.model_cache_dir or default_cache_dir()


# The settings a command-line option can give instead (bot.cli.commands).
_OPTIONS = {"docs_dir": "--docs", "index_dir": "--index-dir"}


def _env_name(loc: tuple[Any, ...], given: Mapping[str, Any]) -> str:
    """How the user spelled the setting: the option when one gave it, else the variable."""
    field_name = str(loc[0]) if loc else "?"
    if field_name in given and field_name in _OPTIONS:
        return _OPTIONS[field_name]
    if field_name == "discord_token":
        return "DISCORD_TOKEN"
    return ENV_PREFIX + field_name.upper()


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; overrides (from command-line flags) win over the environment."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            value = error.get("input")
            message = error["msg"].removeprefix("Value error, ")
            named = error["type"] == "value_error" and str(value) in message  # the message says it already
            shown = "" if isinstance(value, dict) or error["type"] == "missing" or named else f" (got {value!r})"
            problems.append(f"{_env_name(error['loc'], given)}: {message}{shown}")
        raise SettingsError("Invalid setting: " + "; ".join(problems) + ".") from None


def _known_variables() -> dict[str, str]:
    """Each environment variable Verbatim reads, by its upper-case name."""
    names = {ENV_PREFIX + name.upper(): name for name in Settings.model_fields}
    names["VERBATIM_DISCORD_TOKEN"] = "discord_token"
    return names


def unknown_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(ENV_FILE)) -> list[str]:
    """A warning for each ``VERBATIM_*`` variable (in the environment or ``.env``) that is no
    setting, naming the closest one: a typo must not be ignored silently."""
    environ = os.environ if environ is None else environ
    names = set(environ)
    if env_file is not None and env_file.is_file():
        from dotenv import dotenv_values

        names |= {k for k in dotenv_values(env_file) if k}
    known = _known_variables()
    warnings = []
    for name in sorted(names):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known or upper.startswith(NOT_SETTINGS_PREFIXES):
            continue
        # Compared without the shared prefix, which would make every name look close.
        suffixes = {k[len(ENV_PREFIX) :]: k for k in known}
        close = difflib.get_close_matches(upper[len(ENV_PREFIX) :], suffixes, n=1, cutoff=0.6)
        advice = f"did you mean {suffixes[close[0]]}?" if close else "see the README's Configuration section."
        warnings.append(f"{name} is not a setting and is ignored; {advice}")
    return warnings

"""A faster embedder: the same sentence-transformers model run by ONNX Runtime.

The model is exported once, locally, from the packaged weights (``torch.onnx.export``;
nothing is downloaded), optionally quantized to int8 with ONNX Runtime's dynamic
quantization, and cached in a folder (by default the user's cache directory,
``~/.cache/verbatim/models`` on Linux, shared by every working folder). Inference
then needs only ``onnxruntime`` and ``tokenizers``: mean pooling and L2 normalization
are done in numpy, as the model's sentence-transformers modules do.

int8 vectors are close to fp32 ones but not interchangeable (an index must never mix
them), so the backend is part of :attr:`OnnxEmbedder.name`, which the manifest records.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np

from index.embedding import DEFAULT_MODEL, Embedder, SentenceTransformerEmbedder, resolve_model_path
from index.errors import ModelLoadError

log = logging.getLogger(__name__)

Backend = Literal["torch", "onnx", "onnx-int8", "auto"]
BACKENDS: tuple[str, ...] = ("auto", "torch", "onnx", "onnx-int8")
DEFAULT_BACKEND = "auto"
# "auto": the fastest backend whose answer quality matches torch fp32 (README, "Performance").
AUTO_BACKEND = "onnx-int8"
_EXPORT_FORMAT = 3  # bump when the export recipe changes, so stale caches are redone
# Bump when the vectors change (a new export, or how texts are run), so that an index of the
# previous vectors is rebuilt rather than mixed with new ones. 4: every text runs alone.
_VECTOR_RECIPE = 4


def default_cache_dir() -> Path:
    """Where exported models are kept unless told otherwise: the user's cache directory
    (platformdirs: ``$XDG_CACHE_HOME/verbatim/models``, ``~/Library/Caches/verbatim/models``,
    ...), so one export serves every working folder of that user."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("verbatim", appauthor=False)) / "models"


def backend_model_name(model: str, backend: str, recipe: int = _VECTOR_RECIPE) -> str:
    """The manifest's model name: plain for torch fp32 (indexes built before backends
    existed stay valid), ``model+backend`` for the first ONNX export recipe (format 2), and
    ``model+backend@N`` for recipe N after it: vectors of two recipes differ in the last
    digits, so an index built by the previous one is rebuilt rather than mixed with the new."""
    if backend == "torch":
        return model
    name = f"{model}+{backend}"
    return name if recipe <= 2 else f"{name}@{recipe}"


def _model_files(path: Path) -> tuple[Path, int, bool]:
    """The tokenizer file, the maximum sequence length and whether to normalize."""
    tokenizer = path / "tokenizer.json"
    if not tokenizer.is_file():
        raise ModelLoadError(f"The model folder {path} has no tokenizer.json; the ONNX backend needs one.")
    max_length = 512
    bert_config = path / "sentence_bert_config.json"
    if bert_config.is_file():
        max_length = int(json.loads(bert_config.read_text(encoding="utf-8")).get("max_seq_length") or max_length)
    modules = path / "modules.json"
    normalize = True
    if modules.is_file():
        kinds = [m.get("type", "") for m in json.loads(modules.read_text(encoding="utf-8"))]
        pooling = [k for k in kinds if k.endswith("Pooling")]
        if len(kinds) > 3 or (pooling and not _mean_pooling(path)):
            raise ModelLoadError(f"The model in {path} is not a plain mean-pooled encoder; use the torch backend.")
        normalize = any(k.endswith("Normalize") for k in kinds)
    return tokenizer, max_length, normalize


def _mean_pooling(path: Path) -> bool:
    config = path / "1_Pooling" / "config.json"
    if not config.is_file():
        return True
    data = json.loads(config.read_text(encoding="utf-8"))
    return bool(data.get("pooling_mode_mean_tokens")) and not any(
        data.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")
    )


@contextlib.contextmanager
def _root_logging_above_warning() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)


def export_onnx(model_path: Path, target: Path, *, quantize: bool) -> Path:
    """Export the transformer in ``model_path`` to ``target`` (an ``.onnx`` file), fuse its
    attention and layer norms into ONNX Runtime's BERT operators, then quantize it to int8 if
    asked. Written to a temporary name and renamed: a crash never leaves a half-written model
    in the cache."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    target.parent.mkdir(parents=True, exist_ok=True)
    # The exporter's tracer warnings and the quantizer's advice (logged on the root logger)
    # are about generic models; for this one they are noise on a user's terminal.
    with (
        tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as scratch,
        warnings.catch_warnings(),
        _root_logging_above_warning(),
    ):
        warnings.simplefilter("ignore")
        fp32 = Path(scratch) / "model.onnx"
        # Eager attention exports as the MatMul/Softmax pattern ONNX Runtime fuses into one
        # Attention operator; the SDPA export does not fuse.
        model = AutoModel.from_pretrained(str(model_path), local_files_only=True, attn_implementation="eager").eval()

        class _Encoder(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
                out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
                return out[0]

        sample = torch.ones((2, 8), dtype=torch.int64)
        axes = {0: "batch", 1: "tokens"}
        with torch.no_grad():
            torch.onnx.export(
                _Encoder(),
                (sample, sample, torch.zeros_like(sample)),
                str(fp32),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["token_embeddings"],
                dynamic_axes={
                    "input_ids": axes,
                    "attention_mask": axes,
                    "token_type_ids": axes,
                    "token_embeddings": axes,
                },
                opset_version=17,
                dynamo=False,
            )
        result = fuse_bert_operators(fp32, Path(scratch) / "model-fused.onnx", model.config)
        if quantize:
            quantized = Path(scratch) / "model-int8.onnx"
            # 7-bit weights on CPUs without VNNI, whose u8s8 kernels saturate.
            quantize_matmuls(result, quantized, reduce_range=not cpu_has_vnni(), attention=True)
            result = quantized
        os.replace(result, target)
    return target


def fuse_bert_operators(source: Path, target: Path, config: Any) -> Path:
    """``source`` with attention, embedding and skip layer norms and bias + GELU fused into
    ONNX Runtime's BERT operators, written to ``target``; ``source`` itself when the graph does
    not fuse (another architecture), so an export never fails for want of a faster graph."""
    from onnxruntime.transformers import optimizer

    try:
        fused = optimizer.optimize_model(
            str(source),
            model_type="bert",
            num_heads=int(getattr(config, "num_attention_heads", 0)),
            hidden_size=int(getattr(config, "hidden_size", 0)),
            opt_level=0,
            use_gpu=False,
        )
        fused_attention = fused.get_fused_operator_statistics().get("Attention", 0)
    except Exception as exc:  # a graph the BERT fusions do not know
        log.info("onnx_fusion_skipped", extra={"reason": f"{type(exc).__name__}: {exc}"})
        return source
    if not fused_attention:
        log.info("onnx_fusion_skipped", extra={"reason": "no attention pattern found"})
        return source
    fused.save_model_to_file(str(target))
    return target


def quantize_matmuls(source: Path, target: Path, *, reduce_range: bool, attention: bool = False) -> None:
    """``source`` with int8 MatMul weights, one scale per output channel, written to ``target``;
    with ``attention``, the fused Attention operators' projections too. MatMuls only: int8
    word embeddings cost 5 points of cosine to fp32. ``reduce_range`` (7-bit weights) gives
    the same results on every x86 CPU, VNNI or not."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul", "Attention"] if attention else ["MatMul"],
        per_channel=True,
        reduce_range=reduce_range,
        # The fused operators live in the com.microsoft domain, which shape inference skips.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def cpu_has_vnni() -> bool:
    """True when the CPU has VNNI int8 dot products (AVX512-VNNI or AVX-VNNI)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def _session(model: Path, *, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    # Idle worker threads sleep instead of spinning: the bot's event loop shares the CPU.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


class OnnxEmbedder:
    """A mean-pooled sentence-transformers encoder run by ONNX Runtime (fp32 or int8).

    ``cache_dir`` holds the exported model; it is created on first use (``on_export`` is
    called just before that one-time export, so a front end can say why it waits). Thread-safe.

    A query runs on one session with a thread a core. Batches of documents run on
    ``batch_workers`` sessions of one thread each (default: one a core), each fed by its own
    Python thread: while one session multiplies, another batch is tokenized and pooled, so the
    cores stay busy where one two-thread session waits on Python between runs.

    Every text runs alone, never padded beside others: int8 dynamic quantization scales a run's
    activations by the range of the whole input, so a text batched with others got a vector that
    depended on them (cosines 0.02 apart), and a reindex gave other vectors, and other top
    passages, than a rebuild of the same documents. Alone, a text's vector depends on its text
    only, and is the vector the same text gets as a query. Unpadded runs of one text were also
    faster here than padded batches of 32 (``bench/results/determinism-throughput.json``).
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        cache_dir: Path | None = None,
        quantize: bool = True,
        on_export: Callable[[], None] | None = None,
        batch_workers: int | None = None,
    ) -> None:
        if batch_workers is not None and batch_workers < 1:
            raise ValueError(f"batch_workers must be at least 1, not {batch_workers}")
        self._model_setting = model
        self._batch_workers = batch_workers
        self._backend = "onnx-int8" if quantize else "onnx"
        self._cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._on_export = on_export
        self._quantize = quantize
        self._lock = threading.Lock()
        self._session: Any = None
        self._batch_sessions: list[Any] = []
        self._tokenizer: Any = None
        self._normalize = True
        self._dimension: int | None = None

    @property
    def name(self) -> str:
        return backend_model_name(self._model_setting, self._backend)

    @property
    def backend(self) -> str:
        return self._backend

    def model_file(self) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self._model_setting)
        return self._cache_dir / f"{safe}-{self._backend}-v{_EXPORT_FORMAT}" / "model.onnx"

    def _loaded(self):  # type: ignore[no-untyped-def]
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._load()
        return self._session

    def _load(self) -> None:
        source = Path(resolve_model_path(self._model_setting))
        if not source.is_dir():
            raise ModelLoadError(f"The ONNX backend needs a local model folder; {self._model_setting!r} is not one.")
        tokenizer_file, max_length, normalize = _model_files(source)
        target = self.model_file()
        if not target.is_file():
            log.info("onnx_export", extra={"model": self._model_setting, "target": str(target)})
            if self._on_export is not None:
                self._on_export()
            export_onnx(source, target, quantize=self._quantize)
            for name in ("tokenizer.json", "sentence_bert_config.json"):
                if (source / name).is_file():
                    shutil.copyfile(source / name, target.parent / name)
        from tokenizers import Tokenizer

        session = _session(target, threads=max(1, len(os.sched_getaffinity(0))))
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        tokenizer.enable_truncation(max_length=max_length)
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._normalize = normalize
        self._inputs = {i.name for i in session.get_inputs()}
        self._session = session
        self._dimension = int(self._run(["dimension probe"]).shape[1])

    @property
    def dimension(self) -> int:
        self._loaded()
        assert self._dimension is not None
        return self._dimension

    def _encode(self, texts: list[str], session: Any = None) -> tuple[np.ndarray, np.ndarray, list[Any]]:
        """Token embeddings, attention mask and the tokenizer's encodings of ``texts``, run on
        ``session`` (the query session by default)."""
        session = session or self._session
        assert self._tokenizer is not None and session is not None
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for i, e in enumerate(encodings):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        tokens = session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
        return tokens, mask, encodings

    def _pool(self, tokens: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Mean of the weighted token embeddings of each row, L2-normalized if the model is."""
        pooled = (tokens * weights[:, :, None]).sum(axis=1) / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
        if self._normalize:
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(pooled, dtype=np.float32)

    def _run(self, texts: list[str], session: Any = None) -> np.ndarray:
        tokens, mask, _ = self._encode(texts, session)
        return self._pool(tokens, mask.astype(np.float32))

    def _batches(self, texts: list[str], batch_size: int) -> list[list[int]]:
        """Row numbers of ``texts`` in batches, the units of work handed to a session (whose
        texts it runs one by one)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        step = max(batch_size, 1)
        return [order[start : start + step] for start in range(0, len(order), step)]

    def _loaded_batch_sessions(self) -> list[Any]:
        """The batch sessions, made on the first batch: a bot that only answers questions (and
        its start-up) never pays for them."""
        if not self._batch_sessions:
            with self._lock:
                if not self._batch_sessions:
                    workers = self._batch_workers or max(1, len(os.sched_getaffinity(0)))
                    model = self.model_file()
                    self._batch_sessions = (
                        [self._session] if workers == 1 else [_session(model, threads=1) for _ in range(workers)]
                    )
        return self._batch_sessions

    def _each_batch(self, batches: list[list[int]], work: Callable[[Any, list[int]], None]) -> None:
        """``work(session, rows)`` for every batch, spread over the batch sessions."""
        sessions = self._loaded_batch_sessions()
        if len(sessions) == 1 or len(batches) == 1:
            for rows in batches:
                work(sessions[0], rows)
            return
        pending = iter(batches)
        taking = threading.Lock()

        def drain(session: Any) -> None:
            while True:
                with taking:
                    rows = next(pending, None)
                if rows is None:
                    return
                work(session, rows)

        with ThreadPoolExecutor(len(sessions), thread_name_prefix="onnx-batch") as pool:
            for done in [pool.submit(drain, session) for session in sessions]:
                done.result()

    def embed_documents(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        self._loaded()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)

        def embed(session: Any, rows: list[int]) -> None:
            for row in rows:
                out[row] = self._run([texts[row]], session)[0]

        self._each_batch(self._batches(texts, batch_size), embed)
        return out

    def embed_documents_with_spans(
        self, texts: list[str], spans: list[list[tuple[int, int]]], *, batch_size: int = 32
    ) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of ``texts`` and, from the same pass, one vector for each character span
        ``spans[i]`` of ``texts[i]`` (its tokens' mean): sentence evidence at no extra cost.
        A span whose tokens were truncated away gets its text's vector."""
        self._loaded()
        dimension = self.dimension
        out = np.zeros((len(texts), dimension), dtype=np.float32)
        counts = [len(s) for s in spans]
        first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        span_out = np.zeros((int(first[-1]), dimension), dtype=np.float32)

        def embed(session: Any, rows: list[int]) -> None:
            for row in rows:
                tokens, mask, encodings = self._encode([texts[row]], session)
                out[row] = self._pool(tokens, mask.astype(np.float32))[0]
                if not counts[row]:
                    continue
                offsets = np.asarray(encodings[0].offsets, dtype=np.int64).reshape(-1, 2)
                special = np.asarray(encodings[0].special_tokens_mask, dtype=bool)
                bounds = np.asarray(spans[row], dtype=np.int64)
                inside = (
                    (offsets[None, :, 0] >= bounds[:, None, 0])
                    & (offsets[None, :, 1] <= bounds[:, None, 1])
                    & (offsets[None, :, 1] > offsets[None, :, 0])
                    & ~special[None, :]
                ).astype(np.float32)
                counted = inside.sum(axis=1, keepdims=True)
                pooled = (inside @ tokens[0, : len(offsets)]) / np.maximum(counted, 1e-9)
                if self._normalize:
                    pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
                empty = counted[:, 0] == 0
                pooled[empty] = out[row]
                span_out[first[row] : first[row + 1]] = pooled

        self._each_batch(self._batches(texts, batch_size), embed)
        return out, span_out

    def embed_query(self, text: str) -> np.ndarray:
        self._loaded()
        return self._run([text])[0]


def make_embedder(
    model: str = DEFAULT_MODEL,
    *,
    backend: str = "auto",
    cache_dir: Path | None = None,
    device: str = "cpu",
    allow_download: bool = False,
    on_export: Callable[[], None] | None = None,
) -> Embedder:
    """The embedder for ``backend``, the same one the command line and the bot use.
    ``auto`` picks :data:`AUTO_BACKEND` on CPU with a local model and falls back to torch
    fp32 when ONNX Runtime is missing or the export fails; an explicit ``onnx``/``onnx-int8``
    raises instead of falling back. ``cache_dir`` defaults to :func:`default_cache_dir`."""
    if backend not in BACKENDS:
        raise ModelLoadError(f"Unknown embedding backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
    torch_embedder = SentenceTransformerEmbedder(model, device=device, allow_download=allow_download)
    if backend == "torch":
        return torch_embedder
    chosen = AUTO_BACKEND if backend == "auto" else backend
    if backend == "auto" and (device != "cpu" or not _local(model)):
        return torch_embedder
    onnx = OnnxEmbedder(model, cache_dir=cache_dir, quantize=chosen == "onnx-int8", on_export=on_export)
    if backend != "auto":
        return onnx
    try:
        _ = onnx.dimension  # loads, exporting on first use
    except Exception as exc:  # any failure of the fast path falls back
        log.warning("onnx_unavailable_using_torch", extra={"reason": f"{type(exc).__name__}: {exc}"})
        return torch_embedder
    return onnx


def _local(model: str) -> bool:
    try:
        return Path(resolve_model_path(model)).is_dir()
    except ModelLoadError:
        return False

"""The learned models that rank spans and judge whether the best one answers.

Two gradient-boosted tree models (LightGBM), trained by ``bench/train_ranker.py`` on the
shared question sets only and shipped in ``index/models/``:

* ``ranker.txt`` scores a span from :data:`index.features.SPAN_FEATURES` (lambdarank:
  the spans of one question are ordered by it);
* ``answerable.txt`` gives the probability that the best span answers the question at
  all, from :data:`index.features.ANSWER_FEATURES`.

``models.json`` records the feature lists the models were trained on: a model whose
features do not match this code's is not used (and the engine falls back to the plain
cosine + coverage ranking), so a stale model can never silently mis-rank.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from index.features import ANSWER_FEATURES, SPAN_FEATURES

log = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).parent / "models"


class Ranker:
    def __init__(self, span_model: Any, answer_model: Any, info: dict[str, Any]) -> None:
        self._span_model = span_model
        self._answer_model = answer_model
        self.info = info

    @classmethod
    def load(cls, folder: Path = MODELS_DIR) -> Ranker | None:
        """The shipped models, or None (with a warning) when they are absent or stale."""
        meta = folder / "models.json"
        if not meta.is_file():
            return None
        info = json.loads(meta.read_text(encoding="utf-8"))
        if (
            tuple(info.get("span_features", ())) != SPAN_FEATURES
            or tuple(info.get("answer_features", ())) != ANSWER_FEATURES
        ):
            log.warning("ranker_stale", extra={"folder": str(folder)})
            return None
        import lightgbm

        span_model = lightgbm.Booster(model_file=str(folder / "ranker.txt"))
        answer_path = folder / "answerable.txt"
        answer_model = lightgbm.Booster(model_file=str(answer_path)) if answer_path.is_file() else None
        return cls(span_model, answer_model, info)

    def span_scores(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self._span_model.predict(features, num_threads=1), dtype=np.float64)

    def answer_probability(self, features: np.ndarray) -> float | None:
        if self._answer_model is None:
            return None
        return float(self._answer_model.predict(features.reshape(1, -1), num_threads=1)[0])

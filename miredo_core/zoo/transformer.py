"""The built-in transformer blocks: every product of one layer as an independent MatMul.

A MatMul is a 1x1 convolution with the right operand stored in the CIM array (reference
sections 1.1 and 7.5): the projection weights, K^T for QK^T, V for Score.V. Independent
per-head products share no operand and go on G. Softmax, normalisation, residuals and the
activation have no MACs and are not listed; the causal mask does not change a product's dims.

Prefill blocks process a whole prompt of `seq` tokens (P = seq). A decode step processes one
new token per sequence of a batch of `batch` against a key/value cache of `context` tokens: the
linears see P = batch rows, and each (sequence, query head) pair is one product with the cache
as the stored operand: QK^T is [1 x head_dim] . [head_dim x context] with K^T cached, Score.V
is [1 x context] . [context x head_dim] with V cached, and G = batch x query heads.

Grouped-query attention (TinyLlama: 32 query heads, 4 key/value heads) is listed after the
key/value repeat to the query heads, as the Hugging Face implementation computes it and as the
reference table lists it: 32 products per sequence, each with its own copy of the shared head.
"""

from __future__ import annotations

from dataclasses import dataclass

from miredo_core.workload import Layer, Network, WorkloadError, matmul_layer


@dataclass(frozen=True)
class BlockShape:
    """The dims of one transformer layer that fix its products."""

    hidden: int
    heads: int
    """Query heads."""
    ffn: int
    kv_heads: int = 0
    """Key/value heads (grouped-query attention); 0 means as many as query heads."""
    gated_ffn: bool = False
    """A gate / up / down FFN (SwiGLU, Llama) instead of FC1 / FC2."""

    def __post_init__(self) -> None:
        if self.hidden % self.heads:
            raise WorkloadError(f"hidden size {self.hidden} is not divisible by {self.heads} heads")
        if self.heads % self.key_value_heads:
            raise WorkloadError(
                f"{self.heads} query heads are not a multiple of {self.key_value_heads} "
                "key/value heads"
            )

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def key_value_heads(self) -> int:
        return self.kv_heads or self.heads


BERT_BASE = BlockShape(hidden=768, heads=12, ffn=3072)
GPT2_MEDIUM = BlockShape(hidden=1024, heads=16, ffn=4096)
TINYLLAMA = BlockShape(hidden=2048, heads=32, ffn=5632, kv_heads=4, gated_ffn=True)


def _linears(shape: BlockShape, rows: int) -> tuple[tuple[Layer, ...], tuple[Layer, ...]]:
    """(attention projections q, k, v; output projection and FFN) at `rows` tokens."""
    kv_width = shape.key_value_heads * shape.head_dim
    projections = (
        matmul_layer("q_proj", rows, shape.hidden, shape.hidden, kind="linear"),
        matmul_layer("k_proj", rows, shape.hidden, kv_width, kind="linear"),
        matmul_layer("v_proj", rows, shape.hidden, kv_width, kind="linear"),
    )
    output = matmul_layer("o_proj", rows, shape.hidden, shape.hidden, kind="linear")
    if shape.gated_ffn:
        ffn = (
            matmul_layer("gate_proj", rows, shape.hidden, shape.ffn, kind="linear"),
            matmul_layer("up_proj", rows, shape.hidden, shape.ffn, kind="linear"),
            matmul_layer("down_proj", rows, shape.ffn, shape.hidden, kind="linear"),
        )
    else:
        ffn = (
            matmul_layer("ffn1", rows, shape.hidden, shape.ffn, kind="linear"),
            matmul_layer("ffn2", rows, shape.ffn, shape.hidden, kind="linear"),
        )
    return projections, (output, *ffn)


def prefill_block(shape: BlockShape, seq: int) -> tuple[Layer, ...]:
    """One layer at prefill of a `seq`-token prompt (batch 1)."""
    projections, rest = _linears(shape, seq)
    attention = (
        matmul_layer("qk_t", seq, shape.head_dim, seq, groups=shape.heads, kind="attention"),
        matmul_layer("score_v", seq, seq, shape.head_dim, groups=shape.heads, kind="attention"),
    )
    return (*projections, *attention, *rest)


def decode_block(shape: BlockShape, batch: int, context: int) -> tuple[Layer, ...]:
    """One layer at one decode step: `batch` sequences, a `context`-token key/value cache."""
    for name, value in (("batch", batch), ("context", context)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise WorkloadError(f"decode {name} must be a positive integer, got {value!r}")
    projections, rest = _linears(shape, batch)
    products = batch * shape.heads
    attention = (
        matmul_layer("qk_t", 1, shape.head_dim, context, groups=products, kind="attention"),
        matmul_layer("score_v", 1, context, shape.head_dim, groups=products, kind="attention"),
    )
    return (*projections, *attention, *rest)


def bert_base() -> Network:
    """BERT-Base encoder layer at sequence 128: hidden 768, 12 heads, FFN 3072."""
    return Network("bert_base", prefill_block(BERT_BASE, seq=128))


def gpt2_medium_block() -> Network:
    """GPT-2 Medium decoder layer at a 1,024-token prompt: hidden 1024, 16 heads, FFN 4096."""
    return Network("gpt2_medium_block", prefill_block(GPT2_MEDIUM, seq=1024))


def tinyllama_block() -> Network:
    """TinyLlama-1.1B decoder layer at a 1,024-token prompt: hidden 2048, 32 query heads,
    4 key/value heads, head dim 64, gated FFN 5632."""
    return Network("tinyllama_block", prefill_block(TINYLLAMA, seq=1024))


def gpt2_medium_decode(batch: int = 1, context: int = 1024) -> Network:
    """GPT-2 Medium decoder layer at one decode step of `batch` sequences, `context` cached."""
    return Network("gpt2_medium_decode", decode_block(GPT2_MEDIUM, batch, context))


def tinyllama_decode(batch: int = 1, context: int = 1024) -> Network:
    """TinyLlama-1.1B decoder layer at one decode step of `batch` sequences, `context` cached."""
    return Network("tinyllama_decode", decode_block(TINYLLAMA, batch, context))

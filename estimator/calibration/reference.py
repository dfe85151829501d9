"""The reference layers: PyTorch's own Transformer layers and Hugging Face models built from local configs.

Nothing is downloaded: every model is instantiated from a config, on the meta device where only
parameters are counted, with small real tensors on the CPU where FLOPs or bytes are measured.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from estimator.activations import HF_EAGER, HF_LLAMA_EAGER, HF_T5_EAGER, TORCH_NN_EAGER, Kernels
from estimator.hf_config import to_hf_dict
from estimator.specs.model import ModelSpec

TORCH_FAMILIES = ("torch-encoder-layer", "torch-decoder-layer", "torch-transformer")
HF_FAMILIES = ("gpt2", "bert", "t5", "llama", "mixtral")
FAMILIES = TORCH_FAMILIES + HF_FAMILIES
KERNELS: dict[str, Kernels] = {
    "gpt2": HF_EAGER,
    "bert": HF_EAGER,
    "t5": HF_T5_EAGER,
    "llama": HF_LLAMA_EAGER,
    "mixtral": HF_LLAMA_EAGER,
    **dict.fromkeys(TORCH_FAMILIES, TORCH_NN_EAGER),
}


def import_transformers() -> Any:
    """Import transformers with its torch.jit deprecation warning (and only that one) filtered."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.*")
        import transformers
        from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    return transformers


@dataclass(frozen=True)
class ReferenceCase:
    """One reference model at one input size. `dec_len` is the decoder (target) length for
    encoder-decoders and the memory length a torch decoder layer attends to."""

    family: str
    config: str
    model: ModelSpec
    batch: int = 2
    seq_len: int = 16
    dec_len: int = 8

    @property
    def kernels(self) -> Kernels:
        return KERNELS[self.family]


def torch_layer_spec(
    *,
    n_layers: int,
    d_model: int,
    n_heads: int,
    d_ff: int,
    activation: str = "relu",
    dropout: float = 0.1,
    architecture: str = "encoder",
) -> ModelSpec:
    """The ModelSpec of torch.nn Transformer layers: biases, LayerNorm, no embeddings or heads."""
    return ModelSpec.model_validate(
        dict(
            name="torch.nn",
            architecture=architecture,
            n_layers=n_layers,
            n_decoder_layers=n_layers if architecture == "encoder-decoder" else 0,
            d_model=d_model,
            n_heads=n_heads,
            d_ff=d_ff,
            vocab_size=1,
            max_seq_len=1 << 16,
            ffn=activation,
            norm="layernorm",
            position="none",
            bias=True,
            dropout=dropout,
            output_head="none",
            final_norm=architecture == "encoder-decoder",
            ffn_dropout=True,
        )
    )


def default_cases() -> list[ReferenceCase]:
    """One small, representative configuration per family (the CLI's default table)."""

    def spec(**fields: Any) -> ModelSpec:
        return ModelSpec.model_validate(
            {"n_layers": 2, "d_model": 96, "n_heads": 4, "max_seq_len": 64, "dropout": 0.1, **fields}
        )

    llama = dict(
        n_kv_heads=2,
        d_ff=160,
        vocab_size=257,
        ffn="swiglu",
        norm="rmsnorm",
        position="rope",
        tie_embeddings=False,
        bias=False,
        dropout=0.0,
    )
    return [
        ReferenceCase(
            "torch-encoder-layer",
            "L2 h96 a4 f160 relu",
            torch_layer_spec(n_layers=2, d_model=96, n_heads=4, d_ff=160),
        ),
        ReferenceCase(
            "torch-decoder-layer",
            "L2 h96 a4 f160 gelu",
            torch_layer_spec(n_layers=2, d_model=96, n_heads=4, d_ff=160, activation="gelu"),
        ),
        ReferenceCase(
            "torch-transformer",
            "L2+2 h96 a4 f160",
            torch_layer_spec(n_layers=2, d_model=96, n_heads=4, d_ff=160, architecture="encoder-decoder"),
        ),
        ReferenceCase("gpt2", "L2 h96 a4 f384 V503", spec(name="gpt2", vocab_size=503)),
        ReferenceCase(
            "bert",
            "L2 h96 a4 f160 V211 MLM+NSP",
            spec(
                name="bert",
                architecture="encoder",
                vocab_size=211,
                d_ff=160,
                type_vocab_size=2,
                embedding_norm=True,
                final_norm=False,
                pooler=True,
                nsp_head=True,
            ),
        ),
        ReferenceCase(
            "t5",
            "L2+2 h96 a4 d32 f160 V301",
            spec(
                name="t5",
                architecture="encoder-decoder",
                n_decoder_layers=2,
                d_head=32,
                d_ff=160,
                vocab_size=301,
                ffn="relu",
                norm="rmsnorm",
                position="relative",
                bias=False,
                ffn_dropout=True,
                relative_attention_buckets=8,
            ),
        ),
        ReferenceCase("llama", "L2 h96 a4 g2 f160 V257", spec(name="llama", **llama)),
        ReferenceCase(
            "mixtral", "L2 h96 a4 g2 f160 E4 k2 V257", spec(name="mixtral", n_experts=4, top_k=2, **llama)
        ),
    ]


def torch_layer_kwargs(m: ModelSpec) -> dict[str, Any]:
    """Constructor arguments of torch.nn's Transformer layers for a ModelSpec."""
    return dict(
        d_model=m.d_model,
        nhead=m.n_heads,
        dim_feedforward=m.d_ff,
        dropout=m.dropout,
        activation=m.ffn,
        batch_first=True,
    )


def hf_config(case: ReferenceCase, attn: str = "eager", experts: str = "eager") -> Any:
    """The transformers config object of an HF-family case."""
    tf = import_transformers()
    d = to_hf_dict(case.model)
    kind = d.pop("model_type")
    d.pop("architectures", None)
    if kind == "gpt2":
        d["activation_function"] = (
            "gelu"  # exact GELU: the tanh approximation's eager ops keep 4 more tensors
        )
    names = {
        "gpt2": "GPT2Config",
        "bert": "BertConfig",
        "t5": "T5Config",
        "llama": "LlamaConfig",
        "mixtral": "MixtralConfig",
    }
    if kind == "mixtral":
        d["experts_implementation"] = experts
    return getattr(tf, names[kind])(**d, attn_implementation=attn)


def build_model(
    case: ReferenceCase, device: str = "cpu", attn: str = "eager", experts: str = "eager"
) -> tuple[Any, tuple[Any, ...]]:
    """The whole reference model and its inputs; the module's forward returns a tensor or tuple of tensors."""
    model, b, s = case.model, case.batch, case.seq_len
    gen = torch.Generator().manual_seed(0)
    with torch.device(device):
        if case.family in TORCH_FAMILIES:
            module, inputs = _torch_stack(case)
        else:
            module = _HFWrapper(case, attn, experts)
            ids = torch.randint(0, model.vocab_size, (b, s), generator=gen).to(device)
            inputs = (
                (ids, torch.randint(0, model.vocab_size, (b, case.dec_len), generator=gen).to(device))
                if case.family == "t5"
                else (ids,)
            )
    return module.train(), inputs


def _torch_stack(case: ReferenceCase) -> tuple[Any, tuple[Any, ...]]:
    model, b, s = case.model, case.batch, case.seq_len
    kw = torch_layer_kwargs(model)
    x = torch.randn(
        b, s, model.d_model, requires_grad=True
    )  # as if from an embedding: its gradient is computed
    if case.family == "torch-encoder-layer":
        return nn.TransformerEncoder(
            nn.TransformerEncoderLayer(**kw), model.n_layers, enable_nested_tensor=False
        ), (x,)
    mem = torch.randn(b, case.dec_len, model.d_model, requires_grad=True)
    if case.family == "torch-decoder-layer":
        return nn.TransformerDecoder(nn.TransformerDecoderLayer(**kw), model.n_layers), (x, mem)
    return (
        nn.Transformer(num_encoder_layers=model.n_layers, num_decoder_layers=model.n_decoder_layers, **kw),
        (x, torch.randn(b, case.dec_len, model.d_model, requires_grad=True)),
    )


def _hf_class(case: ReferenceCase) -> Callable[[Any], Any]:
    tf = import_transformers()
    names = {
        "gpt2": "GPT2LMHeadModel",
        "bert": "BertForPreTraining",
        "t5": "T5ForConditionalGeneration",
        "llama": "LlamaForCausalLM",
        "mixtral": "MixtralForCausalLM",
    }
    cls: Callable[[Any], Any] = getattr(tf, names[case.family])
    return cls


class _HFWrapper(nn.Module):
    """Calls an HF model without caches and returns its logits as plain tensors (fvcore's tracer rejects
    caches and dicts)."""

    def __init__(self, case: ReferenceCase, attn: str, experts: str) -> None:
        super().__init__()
        self.family = case.family
        self.inner = _hf_class(case)(hf_config(case, attn, experts))

    def forward(self, ids: Any, dec_ids: Any = None) -> Any:
        if self.family == "t5":
            return self.inner(input_ids=ids, decoder_input_ids=dec_ids, use_cache=False, return_dict=False)[0]
        out = (
            self.inner(ids, use_cache=False, return_dict=False)
            if self.family != "bert"
            else self.inner(ids, return_dict=False)
        )
        return (out[0], out[1]) if self.family == "bert" else out[0]


@dataclass
class LayerUnderTest:
    """One layer of a reference family, ready for a saved-tensor measurement."""

    forward: Callable[..., Any]  # (x, *extra_inputs) -> output tensor
    x: Any  # the layer input (requires grad)
    exclude: list[Any]  # parameters and auxiliary inputs whose storages are not activations
    extra_inputs: list[Any]  # activations passed besides x (a decoder layer's memory)


def build_layer(case: ReferenceCase, dtype: Any, attn: str = "eager") -> LayerUnderTest:
    """One layer of `case` in `dtype`, train mode, with a random input that requires grad."""
    model, b, s = case.model, case.batch, case.seq_len
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(b, s, model.d_model, generator=gen).to(dtype).requires_grad_(True)
    if case.family in TORCH_FAMILIES:
        kw = torch_layer_kwargs(model)
        if case.family == "torch-encoder-layer":
            enc = nn.TransformerEncoderLayer(**kw).to(dtype).train()
            return LayerUnderTest(lambda t: enc(t), x, list(enc.parameters()), [])
        dec = nn.TransformerDecoderLayer(**kw).to(dtype).train()
        mem = torch.randn(b, case.dec_len, model.d_model, generator=gen).to(dtype).requires_grad_(True)
        return LayerUnderTest(lambda t, memory: dec(t, memory), x, list(dec.parameters()), [mem])
    cfg = hf_config(case, attn)
    mod = _hf_layer(case, cfg).to(dtype).train()
    exclude: list[Any] = list(mod.parameters())
    if case.family in ("llama", "mixtral"):
        rotary = _rotary(case, cfg)
        cos, sin = rotary(x, torch.arange(s)[None].expand(b, s))
        exclude += [cos, sin]
        return LayerUnderTest(lambda t: _first(mod(t, position_embeddings=(cos, sin))), x, exclude, [])
    return LayerUnderTest(lambda t: _first(mod(t)), x, exclude, [])


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, tuple) else out


def _hf_layer(case: ReferenceCase, cfg: Any) -> Any:
    tf = import_transformers()
    models = tf.models
    if case.family == "gpt2":
        return models.gpt2.modeling_gpt2.GPT2Block(cfg, layer_idx=0)
    if case.family == "bert":
        return models.bert.modeling_bert.BertLayer(cfg)
    if case.family == "t5":
        return models.t5.modeling_t5.T5Block(cfg, has_relative_attention_bias=False)
    if case.family == "llama":
        return models.llama.modeling_llama.LlamaDecoderLayer(cfg, layer_idx=0)
    return models.mixtral.modeling_mixtral.MixtralDecoderLayer(cfg, layer_idx=0)


def _rotary(case: ReferenceCase, cfg: Any) -> Any:
    tf = import_transformers()
    return tf.models.llama.modeling_llama.LlamaRotaryEmbedding(cfg)


def selective_attention(case: ReferenceCase) -> Callable[..., Any]:
    """An attention function for transformers' AttentionInterface that recomputes the family's eager
    attention core in backward (selective recomputation, Korthikanti et al. 2022 Sec. 5): a reentrant
    checkpoint keeps only its tensor inputs (Q, K, V and the mask)."""
    import functools

    from torch.utils.checkpoint import checkpoint

    tf = import_transformers()
    module_names = {
        "gpt2": "gpt2.modeling_gpt2",
        "bert": "bert.modeling_bert",
        "t5": "t5.modeling_t5",
        "llama": "llama.modeling_llama",
        "mixtral": "mixtral.modeling_mixtral",
    }
    mod = tf.models
    for part in module_names[case.family].split("."):
        mod = getattr(mod, part)
    eager = mod.eager_attention_forward

    def attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kwargs: Any) -> Any:
        core = functools.partial(eager, module, **kwargs)
        return checkpoint(core, query, key, value, attention_mask, use_reentrant=True)

    return attention

"""Read a local Hugging Face `config.json` into a ModelSpec, with no network and no transformers import.

Families: gpt2, bert, roberta, t5, llama, mistral, mixtral, qwen3, qwen3_moe, deepseek_v2, deepseek_v3, opt,
bloom, mpt, falcon, gpt_neox (the keys are those of transformers' config classes and of the published
config.json files). `to_hf_dict` is the inverse, for the tests that count the real modules.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from estimator.errors import InputError, format_validation_error
from estimator.specs.model import ModelSpec
from estimator.textio import read_json

MAX_CONFIG_BYTES = 1_000_000  # real configs are a few kB; a larger file is not a config

_ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": "gelu",
    "gelu_fast": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "relu": "relu",
}


_REQUIRED = object()


def _get(cfg: dict[str, Any], key: str, kind: type, default: Any = _REQUIRED) -> Any:
    """cfg[key] checked to be of `kind` (ints and floats must be finite and non-negative; bools are not
    ints); a missing optional key (or null) gives `default`. Errors name the key."""
    value = cfg.get(key)
    if value is None:
        if default is _REQUIRED:
            raise InputError(f"config.json ({cfg.get('model_type')}): missing required key {key!r}")
        return default
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if ok and kind in (int, float) and not (0 <= value < float("inf")):
        ok = False
    if not ok:
        raise InputError(
            f"config.json ({cfg.get('model_type')}): {key} must be a {kind.__name__} "
            f"(a non-negative number where numeric), got {value!r}"
        )
    return value


def _req(cfg: dict[str, Any], key: str) -> Any:
    return _get(cfg, key, int)


def _activation(cfg: dict[str, Any], key: str, default: str) -> str:
    value = _get(cfg, key, str, default)
    if value not in _ACTIVATIONS:
        raise InputError(
            f"config.json ({cfg.get('model_type')}): {key} {value!r} is not supported; "
            f"supported: {', '.join(sorted(_ACTIVATIONS))}"
        )
    return _ACTIVATIONS[value]


def _gpt2(cfg: dict[str, Any]) -> dict[str, Any]:
    h = _req(cfg, "n_embd")
    return dict(
        architecture="decoder",
        n_layers=_req(cfg, "n_layer"),
        d_model=h,
        n_heads=_req(cfg, "n_head"),
        d_ff=_get(cfg, "n_inner", int, 0) or 4 * h,
        vocab_size=_req(cfg, "vocab_size"),
        max_seq_len=_get(cfg, "n_positions", int, 1024),
        ffn=_activation(cfg, "activation_function", "gelu_new"),
        norm="layernorm",
        position="learned",
        tie_embeddings=_get(cfg, "tie_word_embeddings", bool, True),
        bias=True,
        dropout=_get(cfg, "resid_pdrop", float, 0.1),
    )


def _bert(cfg: dict[str, Any]) -> dict[str, Any]:
    archs = _get(cfg, "architectures", list, ["BertForPreTraining"]) or ["BertForPreTraining"]
    arch = archs[0] if isinstance(archs[0], str) else "BertForPreTraining"
    pretraining = arch == "BertForPreTraining"
    return dict(
        architecture="encoder",
        n_layers=_req(cfg, "num_hidden_layers"),
        d_model=_req(cfg, "hidden_size"),
        n_heads=_req(cfg, "num_attention_heads"),
        d_ff=_req(cfg, "intermediate_size"),
        vocab_size=_req(cfg, "vocab_size"),
        max_seq_len=_get(cfg, "max_position_embeddings", int, 512),
        ffn=_activation(cfg, "hidden_act", "gelu"),
        norm="layernorm",
        position="learned",
        tie_embeddings=_get(cfg, "tie_word_embeddings", bool, True),
        bias=True,
        type_vocab_size=_get(cfg, "type_vocab_size", int, 2),
        embedding_norm=True,
        final_norm=False,
        pooler=arch in ("BertForPreTraining", "BertModel"),
        nsp_head=pretraining,
        output_head="mlm" if arch in ("BertForPreTraining", "BertForMaskedLM") else "none",
        dropout=_get(cfg, "hidden_dropout_prob", float, 0.1),
    )


def _t5(cfg: dict[str, Any]) -> dict[str, Any]:
    proj = _get(cfg, "feed_forward_proj", str, "relu")
    ffn = {"relu": "relu", "gated-gelu": "geglu", "gated-relu": "swiglu", "gelu": "gelu"}.get(proj)
    if ffn is None:
        raise InputError(f"config.json (t5): unsupported feed_forward_proj {proj!r}")
    n_layers = _req(cfg, "num_layers")
    return dict(
        architecture="encoder-decoder",
        n_layers=n_layers,
        n_decoder_layers=_get(cfg, "num_decoder_layers", int, 0) or n_layers,
        d_model=_req(cfg, "d_model"),
        n_heads=_req(cfg, "num_heads"),
        d_head=_req(cfg, "d_kv"),
        d_ff=_req(cfg, "d_ff"),
        vocab_size=_req(cfg, "vocab_size"),
        max_seq_len=_get(cfg, "n_positions", int, 512),
        ffn=ffn,
        norm="rmsnorm",
        # transformers >= 5 ties T5's LM head to the shared embedding always (T5Config forces
        # tie_word_embeddings = True and reads a saved False only as "do not scale decoder outputs")
        position="relative",
        tie_embeddings=True,
        bias=False,
        final_norm=True,
        relative_attention_buckets=_get(cfg, "relative_attention_num_buckets", int, 32),
        dropout=_get(cfg, "dropout_rate", float, 0.1),
        ffn_dropout=True,
    )


def _llama(cfg: dict[str, Any]) -> dict[str, Any]:
    heads = _req(cfg, "num_attention_heads")
    out = dict(
        architecture="decoder",
        n_layers=_req(cfg, "num_hidden_layers"),
        d_model=_req(cfg, "hidden_size"),
        n_heads=heads,
        n_kv_heads=_get(cfg, "num_key_value_heads", int, 0) or heads,
        d_ff=_req(cfg, "intermediate_size"),
        vocab_size=_req(cfg, "vocab_size"),
        max_seq_len=_get(cfg, "max_position_embeddings", int, 4096),
        ffn="swiglu",
        norm="rmsnorm",
        position="rope",
        tie_embeddings=_get(cfg, "tie_word_embeddings", bool, False),
        bias=_get(cfg, "attention_bias", bool, False),
        dropout=_get(cfg, "attention_dropout", float, 0.0),
    )
    if _get(cfg, "head_dim", int, 0):
        out["d_head"] = cfg["head_dim"]
    if _get(cfg, "num_local_experts", int, 0):
        out["n_experts"] = cfg["num_local_experts"]
        out["top_k"] = _get(cfg, "num_experts_per_tok", int, 2)
    return out


def _roberta(cfg: dict[str, Any]) -> dict[str, Any]:
    """RoBERTa: BERT's encoder without NSP or pooler under MaskedLM, one token type, and position ids that
    start after the padding index (max_position_embeddings = 512 + 2)."""
    out = _bert({**cfg, "architectures": _get(cfg, "architectures", list, ["RobertaForMaskedLM"])})
    positions = _get(cfg, "max_position_embeddings", int, 514)
    offset = _get(cfg, "pad_token_id", int, 1) + 1
    if positions <= offset:
        raise InputError(f"config.json (roberta): max_position_embeddings ({positions}) must exceed {offset}")
    arch = (_get(cfg, "architectures", list, ["RobertaForMaskedLM"]) or ["RobertaForMaskedLM"])[0]
    out.update(
        max_seq_len=positions - offset,
        position_offset=offset,
        type_vocab_size=_get(cfg, "type_vocab_size", int, 1),
        pooler=arch == "RobertaModel",
        nsp_head=False,
        output_head="mlm" if arch == "RobertaForMaskedLM" else "none",
    )
    return out


def _gated_mlp(cfg: dict[str, Any]) -> None:
    act = _get(cfg, "hidden_act", str, "silu")
    if act != "silu":
        raise InputError(
            f"config.json ({cfg.get('model_type')}): hidden_act {act!r} is not supported; supported: silu"
        )


def _qwen3(cfg: dict[str, Any]) -> dict[str, Any]:
    """Qwen3 (dense) and Qwen3-MoE: Llama's block with an RMSNorm over each head's query and key."""
    _gated_mlp(cfg)
    out = _llama({**cfg, "num_local_experts": None})
    out.update(qk_norm=True, d_head=_get(cfg, "head_dim", int, out["d_model"] // out["n_heads"]))
    if cfg.get("model_type") == "qwen3_moe":
        experts = _get(cfg, "num_experts", int, 0) or _get(cfg, "num_local_experts", int, 0)
        if not experts:
            raise InputError("config.json (qwen3_moe): missing required key 'num_experts'")
        step = _get(cfg, "decoder_sparse_step", int, 1)
        dense_only = _get(cfg, "mlp_only_layers", list, [])
        if step != 1 or dense_only:
            raise InputError(
                "config.json (qwen3_moe): decoder_sparse_step other than 1 and mlp_only_layers are not "
                "supported (every layer is taken as MoE); use first_k_dense / moe_layer_freq in a model YAML"
            )
        out.update(
            n_experts=experts,
            top_k=_get(cfg, "num_experts_per_tok", int, 8),
            d_ff_expert=_req(cfg, "moe_intermediate_size"),
        )
    return out


def _deepseek(cfg: dict[str, Any]) -> dict[str, Any]:
    """DeepSeek-V2/V3: multi-head latent attention, the first `first_k_dense_replace` layers dense, then
    routed plus shared experts every `moe_layer_freq` layers; group-limited routing (n_group groups, tokens
    to at most topk_group of them) is read as node-limited routing; the MTP modules are counted apart."""
    _gated_mlp(cfg)
    heads = _req(cfg, "num_attention_heads")
    nope, rope = _req(cfg, "qk_nope_head_dim"), _req(cfg, "qk_rope_head_dim")
    groups = _get(cfg, "n_group", int, 1) or 1
    out = dict(
        architecture="decoder",
        n_layers=_req(cfg, "num_hidden_layers"),
        d_model=_req(cfg, "hidden_size"),
        n_heads=heads,
        n_kv_heads=_get(cfg, "num_key_value_heads", int, 0) or heads,
        d_head=_get(cfg, "v_head_dim", int, nope),
        d_ff=_req(cfg, "intermediate_size"),
        vocab_size=_req(cfg, "vocab_size"),
        max_seq_len=_get(cfg, "max_position_embeddings", int, 4096),
        ffn="swiglu",
        norm="rmsnorm",
        position="rope",
        tie_embeddings=_get(cfg, "tie_word_embeddings", bool, False),
        bias=_get(cfg, "attention_bias", bool, False),
        q_lora_rank=_get(cfg, "q_lora_rank", int, None),
        kv_lora_rank=_req(cfg, "kv_lora_rank"),
        qk_nope_head_dim=nope,
        qk_rope_head_dim=rope,
        v_head_dim=_req(cfg, "v_head_dim"),
        mtp_depth=_get(cfg, "num_nextn_predict_layers", int, 0),
    )
    experts = _get(cfg, "n_routed_experts", int, 0)
    if experts:
        out.update(
            n_experts=experts,
            top_k=_get(cfg, "num_experts_per_tok", int, 0) or 6,
            n_shared_experts=_get(cfg, "n_shared_experts", int, 0),
            d_ff_expert=_req(cfg, "moe_intermediate_size"),
            first_k_dense=_get(cfg, "first_k_dense_replace", int, 0),
            moe_layer_freq=_get(cfg, "moe_layer_freq", int, 1) or 1,
        )
        if groups > 1:
            out["routed_nodes_limit"] = _get(cfg, "topk_group", int, groups) or groups
    return out


def _opt(cfg: dict[str, Any]) -> dict[str, Any]:
    """OPT: a pre-LN GPT with ReLU and learned positions offset by 2 rows."""
    h = _req(cfg, "hidden_size")
    if _get(cfg, "word_embed_proj_dim", int, h) != h:
        raise InputError("config.json (opt): word_embed_proj_dim different from hidden_size is not supported")
    if not _get(cfg, "do_layer_norm_before", bool, True):
        raise InputError(
            "config.json (opt): post-LN OPT (do_layer_norm_before false, OPT-350m) is not supported"
        )
    return dict(
        architecture="decoder",
        n_layers=_req(cfg, "num_hidden_layers"),
        d_model=h,
        n_heads=_req(cfg, "num_attention_heads"),
        d_ff=_req(cfg, "ffn_dim"),
        vocab_size=_req(cfg, "vocab_size"),
        max_seq_len=_get(cfg, "max_position_embeddings", int, 2048),
        position_offset=2,
        ffn=_activation(cfg, "activation_function", "relu"),
        norm="layernorm",
        position="learned",
        tie_embeddings=_get(cfg, "tie_word_embeddings", bool, True),
        bias=_get(cfg, "enable_bias", bool, True),
        dropout=_get(cfg, "dropout", float, 0.1),
    )


def _bloom(cfg: dict[str, Any]) -> dict[str, Any]:
    """BLOOM: ALiBi, a LayerNorm after the embedding, 4h GeLU FFN, tied output."""
    return dict(
        architecture="decoder",
        n_layers=_get(cfg, "n_layer", int, 0) or _req(cfg, "num_hidden_layers"),
        d_model=_req(cfg, "hidden_size"),
        n_heads=_get(cfg, "n_head", int, 0) or _req(cfg, "num_attention_heads"),
        vocab_size=_req(cfg, "vocab_size"),
        max_seq_len=_get(cfg, "seq_length", int, 2048),
        ffn="gelu",
        norm="layernorm",
        position="alibi",
        tie_embeddings=_get(cfg, "tie_word_embeddings", bool, True),
        bias=True,
        embedding_norm=True,
        dropout=_get(cfg, "hidden_dropout", float, 0.0),
    )


def _mpt(cfg: dict[str, Any]) -> dict[str, Any]:
    """MPT: ALiBi, no biases (LayerNorms included) when `no_bias`, FFN of expansion_ratio × d_model."""
    h = _req(cfg, "d_model")
    attn = _get(cfg, "attn_config", dict, {})
    if attn.get("alibi") is False:
        raise InputError("config.json (mpt): attn_config.alibi false (learned positions) is not supported")
    return dict(
        architecture="decoder",
        n_layers=_req(cfg, "n_layers"),
        d_model=h,
        n_heads=_req(cfg, "n_heads"),
        d_ff=_get(cfg, "expansion_ratio", int, 4) * h,
        vocab_size=_req(cfg, "vocab_size"),
        max_seq_len=_get(cfg, "max_seq_len", int, 2048),
        ffn="gelu",
        norm="layernorm",
        position="alibi",
        tie_embeddings=True,
        bias=not _get(cfg, "no_bias", bool, True),
        dropout=_get(cfg, "resid_pdrop", float, 0.0),
    )


def _falcon(cfg: dict[str, Any]) -> dict[str, Any]:
    """Falcon's new decoder architecture (40B, 180B): grouped K/V heads, attention and MLP in parallel
    with one LayerNorm each (biased), no linear biases, rotary positions."""
    if not _get(cfg, "new_decoder_architecture", bool, False):
        raise InputError(
            "config.json (falcon): only new_decoder_architecture (Falcon-40B/180B) is supported; "
            "Falcon-7B's single shared LayerNorm per layer has no ModelSpec field"
        )
    if _get(cfg, "alibi", bool, False):
        raise InputError("config.json (falcon): alibi true is not supported")
    h, heads = _req(cfg, "hidden_size"), _req(cfg, "num_attention_heads")
    return dict(
        architecture="decoder",
        n_layers=_req(cfg, "num_hidden_layers"),
        d_model=h,
        n_heads=heads,
        n_kv_heads=_get(cfg, "num_kv_heads", int, heads),
        d_head=h // heads,
        d_ff=_get(cfg, "ffn_hidden_size", int, 0) or 4 * h,
        vocab_size=_req(cfg, "vocab_size"),
        max_seq_len=_get(cfg, "max_position_embeddings", int, 2048),
        ffn="gelu",
        norm="layernorm",
        norm_bias=True,
        position="rope",
        tie_embeddings=_get(cfg, "tie_word_embeddings", bool, True),
        bias=_get(cfg, "bias", bool, False),
        dropout=_get(cfg, "hidden_dropout", float, 0.0),
    )


def _gpt_neox(cfg: dict[str, Any]) -> dict[str, Any]:
    """GPT-NeoX (Pythia): rotary positions, biased linears, untied output; the parallel residual does not
    change the count or the FLOPs."""
    return dict(
        architecture="decoder",
        n_layers=_req(cfg, "num_hidden_layers"),
        d_model=_req(cfg, "hidden_size"),
        n_heads=_req(cfg, "num_attention_heads"),
        d_ff=_req(cfg, "intermediate_size"),
        vocab_size=_req(cfg, "vocab_size"),
        max_seq_len=_get(cfg, "max_position_embeddings", int, 2048),
        ffn=_activation(cfg, "hidden_act", "gelu"),
        norm="layernorm",
        position="rope",
        tie_embeddings=_get(cfg, "tie_word_embeddings", bool, False),
        bias=_get(cfg, "attention_bias", bool, True),
        dropout=_get(cfg, "hidden_dropout", float, 0.0),
    )


# config.json key -> ModelSpec field, per family: errors name the key the user wrote
_KEYS: dict[str, dict[str, str]] = {
    "gpt2": {
        "n_layer": "n_layers",
        "n_embd": "d_model",
        "n_head": "n_heads",
        "n_inner": "d_ff",
        "n_positions": "max_seq_len",
        "resid_pdrop": "dropout",
    },
    "bert": {
        "num_hidden_layers": "n_layers",
        "hidden_size": "d_model",
        "num_attention_heads": "n_heads",
        "intermediate_size": "d_ff",
        "max_position_embeddings": "max_seq_len",
        "hidden_dropout_prob": "dropout",
    },
    "t5": {
        "num_layers": "n_layers",
        "num_decoder_layers": "n_decoder_layers",
        "num_heads": "n_heads",
        "d_kv": "d_head",
        "n_positions": "max_seq_len",
        "dropout_rate": "dropout",
        "relative_attention_num_buckets": "relative_attention_buckets",
    },
    "llama": {
        "num_hidden_layers": "n_layers",
        "hidden_size": "d_model",
        "num_attention_heads": "n_heads",
        "num_key_value_heads": "n_kv_heads",
        "intermediate_size": "d_ff",
        "head_dim": "d_head",
        "max_position_embeddings": "max_seq_len",
        "num_local_experts": "n_experts",
        "num_experts_per_tok": "top_k",
        "attention_dropout": "dropout",
    },
}
_KEYS.update(
    {
        "mistral": _KEYS["llama"],
        "mixtral": _KEYS["llama"],
        "qwen3": _KEYS["llama"],
        "qwen3_moe": {**_KEYS["llama"], "num_experts": "n_experts", "moe_intermediate_size": "d_ff_expert"},
        "roberta": _KEYS["bert"],
        "deepseek_v3": {
            **_KEYS["llama"],
            "n_routed_experts": "n_experts",
            "moe_intermediate_size": "d_ff_expert",
            "first_k_dense_replace": "first_k_dense",
            "topk_group": "routed_nodes_limit",
            "num_nextn_predict_layers": "mtp_depth",
        },
        "opt": {
            "num_hidden_layers": "n_layers",
            "hidden_size": "d_model",
            "num_attention_heads": "n_heads",
            "ffn_dim": "d_ff",
            "max_position_embeddings": "max_seq_len",
        },
        "bloom": {"n_layer": "n_layers", "hidden_size": "d_model", "n_head": "n_heads"},
        "mpt": {"n_layers": "n_layers", "n_heads": "n_heads", "max_seq_len": "max_seq_len"},
        "falcon": {
            "num_hidden_layers": "n_layers",
            "hidden_size": "d_model",
            "num_attention_heads": "n_heads",
            "num_kv_heads": "n_kv_heads",
            "ffn_hidden_size": "d_ff",
        },
        "gpt_neox": {
            "num_hidden_layers": "n_layers",
            "hidden_size": "d_model",
            "num_attention_heads": "n_heads",
            "intermediate_size": "d_ff",
            "max_position_embeddings": "max_seq_len",
        },
    }
)
_KEYS["deepseek_v2"] = _KEYS["deepseek_v3"]

_FAMILIES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "gpt2": _gpt2,
    "bert": _bert,
    "t5": _t5,
    "llama": _llama,
    "mistral": _llama,
    "mixtral": _llama,
    "qwen3": _qwen3,
    "qwen3_moe": _qwen3,
    "roberta": _roberta,
    "deepseek_v2": _deepseek,
    "deepseek_v3": _deepseek,
    "opt": _opt,
    "bloom": _bloom,
    "mpt": _mpt,
    "falcon": _falcon,
    "gpt_neox": _gpt_neox,
}


def model_from_hf_dict(cfg: dict[str, Any], name: str = "hf-config") -> ModelSpec:
    """A ModelSpec from the parsed contents of a Hugging Face config.json."""
    kind = cfg.get("model_type")
    if not isinstance(kind, str) or kind not in _FAMILIES:
        raise InputError(
            f"config.json: model_type {kind!r} is not supported; supported: {', '.join(sorted(_FAMILIES))}"
        )
    fields = _FAMILIES[kind](cfg)
    given = cfg.get("_name_or_path")
    fields["name"] = given[:200] if isinstance(given, str) and given else name
    fields["source"] = f"Hugging Face config.json (model_type {kind})"
    try:
        return ModelSpec.model_validate(fields)
    except ValidationError as exc:
        names = {field: key for key, field in _KEYS.get(kind, {}).items()}
        raise InputError(
            format_validation_error(exc, prefix=f"config.json ({kind}): ", names=names)
        ) from None


def load_hf_config(path: str | Path) -> ModelSpec:
    """Read a local config.json (at most 1 MB, a regular UTF-8 file) into a ModelSpec."""
    p = Path(path)
    cfg = read_json(p, limit=MAX_CONFIG_BYTES, what="config.json")
    if not isinstance(cfg, dict):
        raise InputError(f"{p}: a config.json must hold a JSON object")
    return model_from_hf_dict(cfg, name=p.parent.name or p.stem)


def to_hf_dict(model: ModelSpec) -> dict[str, Any]:
    """The Hugging Face config (gpt2, bert, t5, llama or mixtral) that builds this model shape.

    The inverse of `model_from_hf_dict` for the shapes those families can express; used to build the
    reference PyTorch modules the tests count against.
    """
    if model.architecture == "encoder-decoder":
        proj = {"relu": "relu", "geglu": "gated-gelu", "swiglu": "gated-relu", "gelu": "gelu"}[model.ffn]
        return dict(
            model_type="t5",
            num_layers=model.n_layers,
            num_decoder_layers=model.n_decoder_layers,
            d_model=model.d_model,
            num_heads=model.n_heads,
            d_kv=model.d_head,
            d_ff=model.d_ff,
            vocab_size=model.vocab_size,
            feed_forward_proj=proj,
            tie_word_embeddings=model.tie_embeddings,
            relative_attention_num_buckets=model.relative_attention_buckets,
            dropout_rate=model.dropout,
            n_positions=model.max_seq_len,
        )
    if model.architecture == "encoder" and model.position_offset:
        return dict(
            model_type="roberta",
            architectures=["RobertaForMaskedLM" if model.output_head == "mlm" else "RobertaModel"],
            num_hidden_layers=model.n_layers,
            hidden_size=model.d_model,
            num_attention_heads=model.n_heads,
            intermediate_size=model.d_ff,
            vocab_size=model.vocab_size,
            max_position_embeddings=model.max_seq_len + model.position_offset,
            pad_token_id=model.position_offset - 1,
            type_vocab_size=model.type_vocab_size,
            hidden_act=model.ffn,
            hidden_dropout_prob=model.dropout,
            attention_probs_dropout_prob=model.dropout,
            tie_word_embeddings=model.tie_embeddings,
        )
    if model.architecture == "encoder":
        arch = (
            "BertForPreTraining"
            if model.nsp_head
            else ("BertForMaskedLM" if model.output_head == "mlm" else "BertModel")
        )
        return dict(
            model_type="bert",
            architectures=[arch],
            num_hidden_layers=model.n_layers,
            hidden_size=model.d_model,
            num_attention_heads=model.n_heads,
            intermediate_size=model.d_ff,
            vocab_size=model.vocab_size,
            max_position_embeddings=model.max_seq_len,
            type_vocab_size=model.type_vocab_size,
            hidden_act=model.ffn,
            hidden_dropout_prob=model.dropout,
            attention_probs_dropout_prob=model.dropout,
            tie_word_embeddings=model.tie_embeddings,
        )
    if model.is_mla or model.first_k_dense or model.n_shared_experts:
        return _to_deepseek(model)
    if model.ffn == "swiglu" and model.norm == "rmsnorm":
        kind = ("qwen3_moe" if model.is_moe else "qwen3") if model.qk_norm else None
        kind = kind or ("mixtral" if model.is_moe else "llama")
        out: dict[str, Any] = dict(
            model_type=kind,
            num_hidden_layers=model.n_layers,
            hidden_size=model.d_model,
            num_attention_heads=model.n_heads,
            num_key_value_heads=model.n_kv_heads,
            head_dim=model.d_head,
            intermediate_size=model.d_ff_expert if kind == "mixtral" else model.d_ff,
            vocab_size=model.vocab_size,
            max_position_embeddings=model.max_seq_len,
            tie_word_embeddings=model.tie_embeddings,
            attention_bias=model.bias,
            mlp_bias=model.bias,
            attention_dropout=model.dropout,
        )
        if kind == "mixtral":
            out.update(num_local_experts=model.n_experts, num_experts_per_tok=model.top_k)
        if kind == "qwen3_moe":
            out.update(
                num_experts=model.n_experts,
                num_experts_per_tok=model.top_k,
                moe_intermediate_size=model.d_ff_expert,
                decoder_sparse_step=1,
                mlp_only_layers=[],
            )
        return out
    decoder = _to_decoder_family(model)
    if decoder is not None:
        return decoder
    if (
        model.norm == "layernorm"
        and model.position == "learned"
        and model.n_heads * model.d_head == model.d_model
    ):
        return dict(
            model_type="gpt2",
            n_layer=model.n_layers,
            n_embd=model.d_model,
            n_head=model.n_heads,
            n_inner=model.d_ff,
            vocab_size=model.vocab_size,
            n_positions=model.max_seq_len,
            tie_word_embeddings=model.tie_embeddings,
            activation_function="gelu_new" if model.ffn == "gelu" else model.ffn,
            resid_pdrop=model.dropout,
            embd_pdrop=model.dropout,
            attn_pdrop=model.dropout,
        )
    raise InputError(
        f"model {model.name!r}: no supported Hugging Face family ({', '.join(sorted(_FAMILIES))}) has this "
        "shape"
    )


def _to_deepseek(model: ModelSpec) -> dict[str, Any]:
    if not model.is_mla:
        raise InputError(
            f"model {model.name!r}: shared experts or dense-first stacks export as DeepSeek, which needs MLA"
        )
    return dict(
        model_type="deepseek_v3",
        num_hidden_layers=model.n_layers,
        hidden_size=model.d_model,
        num_attention_heads=model.n_heads,
        num_key_value_heads=model.n_kv_heads,
        intermediate_size=model.d_ff,
        moe_intermediate_size=model.d_ff_expert,
        vocab_size=model.vocab_size,
        max_position_embeddings=model.max_seq_len,
        tie_word_embeddings=model.tie_embeddings,
        attention_bias=model.bias,
        n_routed_experts=model.n_experts if model.is_moe else None,
        num_experts_per_tok=model.top_k if model.is_moe else None,
        n_shared_experts=model.n_shared_experts if model.is_moe else None,
        first_k_dense_replace=model.first_k_dense if model.is_moe else model.n_layers,
        q_lora_rank=model.q_lora_rank,
        kv_lora_rank=model.kv_lora_rank,
        qk_nope_head_dim=model.qk_nope_head_dim,
        qk_rope_head_dim=model.qk_rope_head_dim,
        v_head_dim=model.v_head_dim,
        n_group=max(8, model.routed_nodes_limit) if model.routed_nodes_limit else 1,
        topk_group=model.routed_nodes_limit or 1,
        num_nextn_predict_layers=model.mtp_depth,
    )


def _to_decoder_family(model: ModelSpec) -> dict[str, Any] | None:
    """OPT, BLOOM, MPT, Falcon (new architecture) or GPT-NeoX, by their distinguishing features."""
    common = dict(vocab_size=model.vocab_size, tie_word_embeddings=model.tie_embeddings)
    if model.position == "alibi" and model.embedding_norm and model.bias:
        return dict(
            model_type="bloom",
            n_layer=model.n_layers,
            hidden_size=model.d_model,
            n_head=model.n_heads,
            **common,
        )
    if model.position == "alibi" and not model.bias and model.d_ff % model.d_model == 0:
        return dict(
            model_type="mpt",
            n_layers=model.n_layers,
            d_model=model.d_model,
            n_heads=model.n_heads,
            expansion_ratio=model.d_ff // model.d_model,
            max_seq_len=model.max_seq_len,
            no_bias=True,
            vocab_size=model.vocab_size,
        )
    if model.position == "learned" and model.position_offset == 2 and model.norm == "layernorm":
        return dict(
            model_type="opt",
            num_hidden_layers=model.n_layers,
            hidden_size=model.d_model,
            num_attention_heads=model.n_heads,
            ffn_dim=model.d_ff,
            word_embed_proj_dim=model.d_model,
            max_position_embeddings=model.max_seq_len,
            activation_function=model.ffn,
            enable_bias=model.bias,
            **common,
        )
    if model.position == "rope" and model.norm == "layernorm" and model.norm_bias and not model.bias:
        return dict(
            model_type="falcon",
            num_hidden_layers=model.n_layers,
            hidden_size=model.d_model,
            num_attention_heads=model.n_heads,
            num_kv_heads=model.n_kv_heads,
            new_decoder_architecture=True,
            parallel_attn=True,
            bias=False,
            ffn_hidden_size=model.d_ff,
            max_position_embeddings=model.max_seq_len,
            **common,
        )
    if model.position == "rope" and model.norm == "layernorm" and model.bias and model.ffn == "gelu":
        return dict(
            model_type="gpt_neox",
            num_hidden_layers=model.n_layers,
            hidden_size=model.d_model,
            num_attention_heads=model.n_heads,
            intermediate_size=model.d_ff,
            max_position_embeddings=model.max_seq_len,
            attention_bias=True,
            **common,
        )
    return None

"""Read a local Hugging Face `config.json` into a ModelSpec, with no network and no transformers import.

Families: gpt2, bert, t5, llama, mistral, mixtral (the keys are those of transformers' config classes).
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
_KEYS = {**_KEYS, "mistral": _KEYS["llama"], "mixtral": _KEYS["llama"]}

_FAMILIES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "gpt2": _gpt2,
    "bert": _bert,
    "t5": _t5,
    "llama": _llama,
    "mistral": _llama,
    "mixtral": _llama,
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
    if model.ffn == "swiglu" and model.norm == "rmsnorm":
        out: dict[str, Any] = dict(
            model_type="mixtral" if model.is_moe else "llama",
            num_hidden_layers=model.n_layers,
            hidden_size=model.d_model,
            num_attention_heads=model.n_heads,
            num_key_value_heads=model.n_kv_heads,
            head_dim=model.d_head,
            intermediate_size=model.d_ff_expert if model.is_moe else model.d_ff,
            vocab_size=model.vocab_size,
            max_position_embeddings=model.max_seq_len,
            tie_word_embeddings=model.tie_embeddings,
            attention_bias=model.bias,
            mlp_bias=model.bias,
            attention_dropout=model.dropout,
        )
        if model.is_moe:
            out.update(num_local_experts=model.n_experts, num_experts_per_tok=model.top_k)
        return out
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
        f"model {model.name!r}: no Hugging Face family (gpt2, bert, t5, llama, mixtral) has this shape"
    )

#!/usr/bin/env python3
"""Export a pytorch-forecasting TemporalFusionTransformer checkpoint to the tft weights format.

    python weights/export.py CHECKPOINT.ckpt OUT.safetensors

Writes one safetensors file (weights/FORMAT.md): the state_dict in float32 with aliased tensors stored
once, and the model + preprocessing configuration as JSON in __metadata__["config"].
Refuses (one-line message, exit status 2) whatever it cannot export faithfully.

Importable: export_model(model, out_path, source_path=None) -> config dict;
            write_safetensors(path, tensors, metadata), read_safetensors(path) -> (tensors, metadata).
"""
import hashlib
import json
import math
import os
import platform
import re
import struct
import sys

import numpy as np

FORMAT_VERSION = "1"
TRANSFORMATIONS = (None, "log", "log1p", "logit", "count", "softplus", "relu", "sqrt")


class ExportError(Exception):
    """The checkpoint cannot be exported faithfully; the message says why."""


# ----------------------------------------------------------------------------------------------------------
# safetensors I/O (written by hand so that the layout is exactly FORMAT.md's: keys sorted, header padded to 8)

_DT = {np.dtype("float32"): "F32", np.dtype("int32"): "I32", np.dtype("float64"): "F64", np.dtype("int64"): "I64",
       np.dtype("uint8"): "U8", np.dtype("int8"): "I8", np.dtype("float16"): "F16", np.dtype("int16"): "I16"}
_DT_INV = {v: k for k, v in _DT.items()}


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: np.ndarray}; metadata: {str: str}. Tensors written in sorted key order, little-endian."""
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError("safetensors metadata must be str -> str")
        header["__metadata__"] = dict(metadata)
    blobs, off = [], 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name])
        if a.dtype not in _DT:
            raise TypeError(f"unsupported dtype {a.dtype} for {name}")
        a = np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<"), copy=False))
        b = a.tobytes()
        header[name] = {"dtype": _DT[a.dtype.newbyteorder("=")], "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    h += b" " * ((-len(h)) % 8)
    tmp = str(path) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    out = {}
    for name, info in header.items():
        s, e = info["data_offsets"]
        dt = _DT_INV[info["dtype"]].newbyteorder("<")
        out[name] = np.frombuffer(data[base + s:base + e], dtype=dt).reshape(info["shape"]).astype(dt.newbyteorder("="))
    return out, meta


# ----------------------------------------------------------------------------------------------------------
# helpers

def _f(x):
    """plain finite Python float"""
    v = float(np.asarray(x).reshape(-1)[0]) if np.ndim(x) else float(x)
    if not math.isfinite(v):
        raise ExportError(f"non-finite scaling parameter {v}")
    return v


def _label(v):
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, (np.floating,)) and np.isnan(v):
        return "nan"
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode()
    return str(v)


def _lst(x):
    return list(x) if x else []


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _version_tuple(v):
    return tuple(int(p) for p in re.findall(r"\d+", v.split("+")[0])[:3])


# ----------------------------------------------------------------------------------------------------------
# pieces of the config

def _encoder_entry(name, enc):
    from pytorch_forecasting.data.encoders import NaNLabelEncoder
    if type(enc) is not NaNLabelEncoder:
        raise ExportError(f"categorical encoder of '{name}' is {type(enc).__name__}, only NaNLabelEncoder is supported")
    if not hasattr(enc, "classes_"):
        raise ExportError(f"categorical encoder of '{name}' is not fitted")
    items = sorted(enc.classes_.items(), key=lambda kv: kv[1])
    idx = [int(i) for _, i in items]
    if idx != list(range(len(idx))):
        raise ExportError(f"categorical encoder of '{name}' has non-contiguous class indices")
    labels = [_label(k) for k, _ in items]
    if len(set(labels)) != len(labels):
        raise ExportError(f"categorical encoder of '{name}' has labels that collide as strings")
    return {"add_nan": bool(enc.add_nan), "classes": labels}


def _transformation(name, t):
    if isinstance(t, str) or t is None:
        if t not in TRANSFORMATIONS:
            raise ExportError(f"'{name}': unknown transformation '{t}'")
        return t
    raise ExportError(f"'{name}': custom transformation callables cannot be exported")


def _group_table(name, norm, decode_cols):
    """Rows of a fitted (non scale_by_group) GroupNormalizer norm_ DataFrame, keys decoded to raw labels.
    decode_cols: {group column: {code: label}} for columns that were label-encoded when the normalizer was fit."""
    groups = list(norm._groups)
    df = norm.norm_
    keys, centers, scales = [], [], []
    for idx, row in df.iterrows():
        tup = idx if isinstance(idx, tuple) else (idx,)
        if len(tup) != len(groups):
            raise ExportError(f"'{name}': GroupNormalizer table index does not match its groups")
        key = []
        for col, v in zip(groups, tup):
            if col in decode_cols:
                code = int(v)
                if code not in decode_cols[col]:
                    raise ExportError(f"'{name}': GroupNormalizer table code {code} of '{col}' has no label")
                key.append(decode_cols[col][code])
            else:
                key.append(_label(v))
        keys.append(key)
        centers.append(_f(row["center"]))
        scales.append(_f(row["scale"]))
    return {"keys": keys, "center": centers, "scale": scales}


def _normalizer(name, norm, ctx, is_target):
    """ctx: dict(group_ids, encoders (name -> fitted NaNLabelEncoder), encoded_cols (set))"""
    from pytorch_forecasting.data.encoders import (EncoderNormalizer, GroupNormalizer, MultiNormalizer,
                                                   NaNLabelEncoder, TorchNormalizer)
    if isinstance(norm, NaNLabelEncoder):
        raise ExportError(f"'{name}': categorical (NaNLabelEncoder) targets are not supported")
    if isinstance(norm, MultiNormalizer):
        raise ExportError(f"'{name}': nested MultiNormalizer")
    t = _transformation(name, getattr(norm, "transformation", None))
    if type(norm) is GroupNormalizer:
        if not hasattr(norm, "norm_"):
            raise ExportError(f"'{name}': GroupNormalizer is not fitted")
        if norm.scale_by_group:
            raise ExportError(f"'{name}': GroupNormalizer(scale_by_group=True) is not supported")
        out = {"type": "group", "transformation": t, "method": norm.method, "center": bool(norm.center),
               "scale_by_group": False, "groups": list(norm._groups)}
        if len(norm._groups) == 0:
            c, s = _f(norm.norm_["center"]), _f(norm.norm_["scale"])
            out.update(table={"keys": [[]], "center": [c], "scale": [s]}, missing=[c, s], lookup_ok=True)
            return out
        # codes -> labels for the columns that were label-encoded in the frame the normalizer was fit on
        decode = {}
        for col in norm._groups:
            if col in ctx["encoded_cols"]:
                enc = ctx["encoders"].get(col)
                if enc is None:
                    raise ExportError(f"'{name}': group column '{col}' was encoded but its encoder is missing")
                decode[col] = {int(i): _label(k) for k, i in enc.classes_.items()}
        out["table"] = _group_table(name, norm, decode)
        out["missing"] = [_f(norm.missing_["center"]), _f(norm.missing_["scale"])]
        out["lookup_ok"] = True
        if is_target:
            # TFT_SPEC §9.5 pitfall: target_scale is looked up with the "__group_id__<col>" codes of ALL group_ids
            # (in group_ids order), in a table indexed by the codes of the categorical encoders used at fit time.
            gids = list(ctx["group_ids"])
            if list(norm._groups) != gids:
                # different length -> KeyError/TypeError -> missing_ for every series; a permutation of several
                # columns could hit wrong rows: refuse that (never seen in practice).
                if len(norm._groups) > 1 and sorted(norm._groups) == sorted(gids):
                    raise ExportError(f"'{name}': GroupNormalizer groups are a permutation of group_ids")
                if not set(norm._groups) <= set(gids):
                    raise ExportError(f"'{name}': GroupNormalizer groups {norm._groups} are not among group_ids")
                out["lookup_ok"] = False
            else:
                gid_dec = {}
                for col in gids:
                    enc = ctx["encoders"].get(f"__group_id__{col}")
                    if enc is None:
                        raise ExportError(f"'{name}': encoder '__group_id__{col}' missing")
                    gid_dec[col] = {int(i): _label(k) for k, i in enc.classes_.items()}
                # effective table: what get_parameters() returns for each known label tuple
                eff = {"keys": [], "center": [], "scale": []}
                for idx, row in norm.norm_.iterrows():
                    tup = idx if isinstance(idx, tuple) else (idx,)
                    if all(int(c) in gid_dec[col] for col, c in zip(gids, tup)):
                        eff["keys"].append([gid_dec[col][int(c)] for col, c in zip(gids, tup)])
                        eff["center"].append(_f(row["center"]))
                        eff["scale"].append(_f(row["scale"]))
                if _table_map(eff) != _table_map(out["table"]):
                    out["lookup_ok"] = False
                    out["target_scale_table"] = eff
        return out
    if type(norm) is EncoderNormalizer:
        # max_length: None, an integer, or [center rows, scale rows] (EncoderNormalizer.fit fits the center on the
        # last max_length[0] encoder rows and the scale on the last max_length[1]); method="robust" takes the
        # quantiles "center", "lower", "upper" from method_kwargs (FORMAT.md)
        ml = norm.max_length
        if isinstance(ml, (list, tuple)):
            if len(ml) != 2 or not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 1
                                       for k in ml):
                raise ExportError(f"'{name}': EncoderNormalizer max_length {ml!r} is not [center rows, scale rows] "
                                  f"(two positive integers)")
            ml = [int(k) for k in ml]
        elif ml is not None:
            ml = int(ml)
        kwargs = dict(getattr(norm, "_method_kwargs", None) or norm.method_kwargs or {})
        if norm.method == "robust" and not set(kwargs) <= {"center", "lower", "upper"}:
            raise ExportError(f"'{name}': EncoderNormalizer(method=\"robust\") method_kwargs {sorted(kwargs)} "
                              f"are not among center, lower, upper")
        return {"type": "encoder", "transformation": t, "method": norm.method, "center": bool(norm.center),
                "max_length": ml, "method_kwargs": {k: float(v) for k, v in kwargs.items()}
                if norm.method == "robust" else kwargs}
    if type(norm) is TorchNormalizer:
        if norm.method == "identity":
            c, s = 0.0, 1.0
        else:
            if not hasattr(norm, "center_"):
                raise ExportError(f"'{name}': TorchNormalizer is not fitted")
            c, s = _f(norm.center_), _f(norm.scale_)
        return {"type": "torch", "transformation": t, "method": norm.method, "center": c, "scale": s}
    raise ExportError(f"'{name}': normalizer {type(norm).__name__} is not supported")


def _index_levels(df):
    import pandas as pd
    if isinstance(df.index, pd.MultiIndex):
        return [df.index.get_level_values(i) for i in range(df.index.nlevels)]
    return [df.index]


def _table_map(t):
    return {tuple(k): (c, s) for k, c, s in zip(t["keys"], t["center"], t["scale"])}


def _scaler(name, sc, ctx):
    from sklearn.preprocessing import RobustScaler, StandardScaler
    from pytorch_forecasting.data.encoders import EncoderNormalizer, GroupNormalizer, TorchNormalizer
    if sc is None:
        return {"type": "identity"}
    if type(sc) is StandardScaler:
        if not hasattr(sc, "n_features_in_"):
            raise ExportError(f"scaler of '{name}' is not fitted")
        mean = _f(sc.mean_[0]) if sc.with_mean else 0.0
        scale = _f(sc.scale_[0]) if sc.with_std else 1.0
        return {"type": "standard", "mean": mean, "scale": scale}
    if type(sc) is RobustScaler:
        if not hasattr(sc, "n_features_in_"):
            raise ExportError(f"scaler of '{name}' is not fitted")
        center = _f(sc.center_[0]) if sc.with_centering else 0.0
        scale = _f(sc.scale_[0]) if sc.with_scaling else 1.0
        return {"type": "robust", "center": center, "scale": scale}
    if type(sc) in (GroupNormalizer, EncoderNormalizer, TorchNormalizer):
        return _normalizer(name, sc, ctx, is_target=False)
    raise ExportError(f"scaler of '{name}' is {type(sc).__name__}, which is not supported")


def lagged_variables(lags):
    """{"<var>_lagged_by_<k>": (var, k)} for lags {var: [k, ...]} (pytorch-forecasting's naming)."""
    return {f"{v}_lagged_by_{k}": (v, int(k)) for v, ks in lags.items() for k in ks}


def _lags(dp):
    """dataset_parameters["lags"] validated -> {var: [k, ...]} (order kept). Refuses what libtft cannot reproduce."""
    raw = dp.get("lags") or {}
    if not isinstance(raw, dict):
        raise ExportError(f"lags must be a dict, got {type(raw).__name__}")
    groups = dict(dp.get("variable_groups") or {})
    members = {c for cs in groups.values() for c in cs}
    derived = {"relative_time_idx", "encoder_length"}
    tv = set()
    for k in ("time_varying_known_categoricals", "time_varying_known_reals",
              "time_varying_unknown_categoricals", "time_varying_unknown_reals"):
        tv |= set(_lst(dp.get(k)))
    out = {}
    for var, ks in raw.items():
        var = str(var)
        if var in groups or var in members:
            raise ExportError(f"lags of '{var}', a variable_groups variable, are not supported "
                              "(pytorch-forecasting itself asserts on them)")
        if var in derived:
            raise ExportError(f"lags of the derived feature '{var}' are not supported")
        if var not in tv:
            raise ExportError(f"lagged variable '{var}' is not a time-varying variable")
        ks = list(ks) if isinstance(ks, (list, tuple)) else [ks]
        kk = []
        for k in ks:
            if isinstance(k, bool) or int(k) != k or int(k) < 1:
                raise ExportError(f"lags of '{var}': {k!r} is not a positive integer")
            kk.append(int(k))
        if len(set(kk)) != len(kk):
            raise ExportError(f"lags of '{var}' repeat a lag")
        out[var] = kk
    return out


# ----------------------------------------------------------------------------------------------------------
# state_dict: aliases, key whitelist

_ALIAS_RULES = [
    (re.compile(r"^post_lstm_gate_decoder\.(.+)$"), r"post_lstm_gate_encoder.\1"),
    (re.compile(r"^post_lstm_add_norm_decoder\.(.+)$"), r"post_lstm_add_norm_encoder.\1"),
    (re.compile(r"^(?:static|encoder|decoder)_variable_selection\.prescalers\.(.+)$"), r"prescalers.\1"),
]
_SHARED_RULE = (re.compile(r"^(?:encoder|decoder)_variable_selection\.single_variable_grns\.(.+)$"),
                r"shared_single_variable_grns.\1")

_KNOWN_KEYS = re.compile(
    r"^(input_embeddings\.embeddings\.[^.]+\.weight"
    r"|prescalers\.[^.]+\.(weight|bias)"
    r"|(static|encoder|decoder)_variable_selection\.(prescalers\.[^.]+\.(weight|bias)|single_variable_grns\..+|flattened_grn\..+)"
    r"|shared_single_variable_grns\..+"
    r"|static_context_(variable_selection|initial_hidden_lstm|initial_cell_lstm|enrichment)\..+"
    r"|static_enrichment\..+"
    r"|lstm_(encoder|decoder)\.(weight_ih|weight_hh|bias_ih|bias_hh)_l\d+"
    r"|post_lstm_gate_(encoder|decoder)\.fc\.(weight|bias)"
    r"|post_lstm_add_norm_(encoder|decoder)\.norm\.(weight|bias)"
    r"|multihead_attn\.(v_layer|q_layers\.\d+|k_layers\.\d+)\.(weight|bias)|multihead_attn\.w_h\.weight"
    r"|(post_attn_gate_norm|pre_output_gate_norm)\.(glu\.fc|add_norm\.norm)\.(weight|bias)"
    r"|pos_wise_ff\..+"
    r"|output_layer\.(\d+\.)?(weight|bias))$")
_GRN_SUFFIX = re.compile(r"^(fc1\.(weight|bias)|context\.weight|fc2\.(weight|bias)|gate_norm\.glu\.fc\.(weight|bias)"
                         r"|gate_norm\.add_norm\.norm\.(weight|bias)|resample_norm\.(mask|norm\.weight|norm\.bias))$")
_RN_SUFFIX = re.compile(r"^(mask|norm\.weight|norm\.bias)$")


def _check_key(k):
    if not _KNOWN_KEYS.match(k):
        return False
    m = re.match(r"^(?:(?:static|encoder|decoder)_variable_selection\.single_variable_grns|shared_single_variable_grns)"
                 r"\.([^.]+)\.(.+)$", k)
    if m:
        return bool(_GRN_SUFFIX.match(m.group(2)) or _RN_SUFFIX.match(m.group(2)))
    m = re.match(r"^(?:(?:static|encoder|decoder)_variable_selection\.flattened_grn|static_context_[a-z_]+|"
                 r"static_enrichment|pos_wise_ff)\.(.+)$", k)
    if m:
        return bool(_GRN_SUFFIX.match(m.group(1)))
    return True


def _state_dict_tensors(model, share):
    import torch
    sd = model.state_dict(keep_vars=False)
    for k, v in sd.items():
        if not _check_key(k):
            raise ExportError(f"state_dict key '{k}' is not known to the tft format")
        if v.dtype != torch.float32:
            raise ExportError(f"state_dict tensor '{k}' is {v.dtype}, not float32")
    rules = list(_ALIAS_RULES) + ([_SHARED_RULE] if share else [])
    expected = {}
    for k in sd:
        for rx, rep in rules:
            if rx.match(k):
                expected[k] = rx.sub(rep, k)
                break
    expected = {k: c for k, c in expected.items() if c in sd}
    # group by storage identity
    groups = {}
    for k, v in sd.items():
        key = (v.data_ptr(), tuple(v.shape), tuple(v.stride()))
        groups.setdefault(key, []).append(k)
    found = {}
    for ks in groups.values():
        if len(ks) < 2:
            continue
        canon = [k for k in ks if k not in expected]
        if len(canon) != 1:
            raise ExportError(f"cannot tell the canonical key among aliased tensors {ks}")
        for k in ks:
            if k != canon[0]:
                found[k] = canon[0]
    if found != expected:
        diff = sorted(set(found.items()) ^ set(expected.items()))[:3]
        raise ExportError(f"aliased state_dict keys differ from the format's alias list, e.g. {diff}")
    tensors = {k: v.detach().cpu().contiguous().numpy().astype(np.float32) for k, v in sd.items() if k not in found}
    return tensors, dict(sorted(found.items())), sd


# ----------------------------------------------------------------------------------------------------------

def build_config(model, source_path=None):
    import lightning
    import pytorch_forecasting
    import torch
    from pytorch_forecasting.data.encoders import MultiNormalizer
    from pytorch_forecasting.metrics import MultiLoss, QuantileLoss

    v = _version_tuple(pytorch_forecasting.__version__)
    if not ((1, 5, 0) <= v < (2, 0, 0)):
        raise ExportError(f"pytorch-forecasting {pytorch_forecasting.__version__} is not supported (need >=1.5,<2)")
    if type(model).__name__ != "TemporalFusionTransformer":
        raise ExportError(f"model is {type(model).__name__}, not TemporalFusionTransformer")
    hp = dict(model.hparams)
    dp = getattr(model, "dataset_parameters", None) or hp.get("dataset_parameters")
    if not dp:
        raise ExportError("the checkpoint has no dataset_parameters (model not built with from_dataset)")

    # ---- loss / quantiles
    loss = model.loss
    if type(loss) is QuantileLoss:
        qlists = [list(loss.quantiles)]
    elif type(loss) is MultiLoss:
        qlists = []
        for mt in loss.metrics:
            if type(mt) is not QuantileLoss:
                raise ExportError(f"loss MultiLoss contains {type(mt).__name__}; only QuantileLoss is supported")
            qlists.append(list(mt.quantiles))
    else:
        raise ExportError(f"loss {type(loss).__name__} is not supported (distribution or point losses); "
                          "only QuantileLoss / MultiLoss of QuantileLoss")
    if any([float(q) for q in ql] != [float(q) for q in qlists[0]] for ql in qlists):
        raise ExportError("targets have different quantile lists")
    quantiles = [float(q) for q in qlists[0]]
    n_targets = len(qlists)
    out_size = hp.get("output_size", 7)
    out_size = [int(o) for o in out_size] if isinstance(out_size, (list, tuple)) else [int(out_size)]
    if len(out_size) != n_targets or any(o != len(quantiles) for o in out_size):
        raise ExportError(f"output_size {out_size} does not match {n_targets} target(s) x {len(quantiles)} quantiles")

    # ---- dataset parameters
    lags = _lags(dp)
    if dp.get("weight"):
        pass  # sample weights only affect training
    target = dp["target"]
    targets = list(target) if isinstance(target, (list, tuple)) else [target]
    if len(targets) != n_targets:
        raise ExportError(f"{len(targets)} target(s) in the dataset but {n_targets} in the loss")
    tn = dp["target_normalizer"]
    tnorms = list(tn.normalizers) if isinstance(tn, MultiNormalizer) else [tn]
    if len(tnorms) != n_targets:
        raise ExportError("target normalizer count does not match the targets")
    if dp.get("time_varying_unknown_categoricals") and any(t in dp["time_varying_unknown_categoricals"] for t in targets):
        raise ExportError("categorical targets are not supported")

    encoders = dict(dp.get("categorical_encoders") or {})
    x_reals, x_cats = list(hp["x_reals"]), list(hp["x_categoricals"])
    group_ids = list(dp["group_ids"])
    # columns label-encoded in the frame before normalizers were fitted (TimeSeriesDataSet._preprocess)
    from pytorch_forecasting.data.encoders import GroupNormalizer
    encoded_cols = set(x_cats)
    if isinstance(tn, (GroupNormalizer, MultiNormalizer)):
        encoded_cols |= set(group_ids)
    ctx = {"group_ids": group_ids, "encoders": encoders, "encoded_cols": encoded_cols}

    cat_enc = {}
    for name, enc in encoders.items():
        if enc is None:
            continue
        if name in targets:
            raise ExportError(f"categorical target '{name}' is not supported")
        cat_enc[name] = _encoder_entry(name, enc)
    member_of = {c: g for g, cs in (dp.get("variable_groups") or {}).items() for c in cs}
    lagged = lagged_variables(lags)          # "<var>_lagged_by_<k>" -> (var, k)
    for c in x_cats:
        base = lagged[c][0] if c in lagged else c     # a lagged categorical is encoded with its variable's encoder
        if member_of.get(base, base) not in cat_enc:
            raise ExportError(f"categorical column '{c}' has no fitted encoder")

    scalers_src = dict(dp.get("scalers") or {})
    derived = {"relative_time_idx", "encoder_length"}
    scalers = {}
    for name in x_reals:
        if name in targets or name in derived or name in lagged:
            continue    # lagged reals use their variable's transformer (FORMAT.md "Lags"): no entry of their own
        if name not in scalers_src:
            raise ExportError(f"real '{name}' has no scaler in dataset_parameters")
        scalers[name] = _scaler(name, scalers_src[name], ctx)

    tnorm_cfg = [_normalizer(t, n, ctx, is_target=True) for t, n in zip(targets, tnorms)]
    target_normalizer = tnorm_cfg[0] if not isinstance(tn, MultiNormalizer) else \
        {"type": "multi", "normalizers": tnorm_cfg}

    # ---- model lists / sizes
    H = int(hp["hidden_size"])
    sd = model.state_dict()
    emb = {}
    for name, size in (hp.get("embedding_sizes") or {}).items():
        w = sd.get(f"input_embeddings.embeddings.{name}.weight")
        if w is None:
            raise ExportError(f"no embedding tensor for '{name}'")
        emb[name] = [int(w.shape[0]), int(w.shape[1])]
    reals = list(dict.fromkeys(_lst(hp.get("static_reals")) + _lst(hp.get("time_varying_reals_encoder")) +
                               _lst(hp.get("time_varying_reals_decoder"))))
    hcs_default = int(hp.get("hidden_continuous_size", 8))
    hcs_over = dict(hp.get("hidden_continuous_sizes") or {})
    hcs = {}
    for r in reals:
        hcs[r] = int(hcs_over.get(r, hcs_default))
        w = sd.get(f"prescalers.{r}.weight")
        if w is None or int(w.shape[0]) != hcs[r]:
            raise ExportError(f"prescaler of '{r}' does not match hidden_continuous_size")
    for name in x_cats:
        in_group = any(name in m for m in (hp.get("categorical_groups") or {}).values())
        if name not in emb and not in_group:
            pass  # categoricals not used by the network are legal (never read)
        if name in lagged and name in emb:
            n_base = len(cat_enc[lagged[name][0]]["classes"])
            if emb[name][0] < n_base:
                raise ExportError(f"embedding of lagged categorical '{name}' has {emb[name][0]} rows but the encoder "
                                  f"of '{lagged[name][0]}' has {n_base} classes")
    if hp.get("monotone_constraints"):
        pass  # training only

    def L(k):
        return [str(x) for x in _lst(hp.get(k))]

    model_cfg = {
        "hidden_size": H,
        "lstm_layers": int(hp.get("lstm_layers", 1)),
        "attention_head_size": int(hp.get("attention_head_size", 4)),
        "causal_attention": bool(hp.get("causal_attention", True)),
        "mask_bias": float(hp.get("mask_bias", -1e9)),
        "share_single_variable_networks": bool(hp.get("share_single_variable_networks", False)),
        "x_reals": x_reals,
        "x_categoricals": x_cats,
        "static_categoricals": L("static_categoricals"),
        "static_reals": L("static_reals"),
        "time_varying_categoricals_encoder": L("time_varying_categoricals_encoder"),
        "time_varying_categoricals_decoder": L("time_varying_categoricals_decoder"),
        "time_varying_reals_encoder": L("time_varying_reals_encoder"),
        "time_varying_reals_decoder": L("time_varying_reals_decoder"),
        "categorical_groups": {k: list(v) for k, v in (hp.get("categorical_groups") or {}).items()},
        "embedding_sizes": emb,
        "hidden_continuous_sizes": hcs,
        "n_targets": n_targets,
        "output_size": out_size,
        "quantiles": quantiles,
    }
    if not math.isfinite(model_cfg["mask_bias"]):
        raise ExportError("mask_bias must be finite (-inf gives NaN rows)")

    # dataset lists incl. derived names, in the dataset's order (TFT_SPEC §9.1)
    static_cats = _lst(dp.get("static_categoricals"))
    static_reals = _lst(dp.get("static_reals"))
    known_cats = _lst(dp.get("time_varying_known_categoricals"))
    known_reals = _lst(dp.get("time_varying_known_reals"))
    unk_cats = _lst(dp.get("time_varying_unknown_categoricals"))
    unk_reals = _lst(dp.get("time_varying_unknown_reals"))
    if dp.get("add_relative_time_idx") and "relative_time_idx" not in known_reals:
        known_reals = known_reals + ["relative_time_idx"]
    # lagged names (TimeSeriesDataSet._set_lagged_variables, >= 1.5 semantics): known if the variable is known or
    # k >= max_prediction_length, else unknown; appended after relative_time_idx
    for var, ks in lags.items():
        is_cat = var in known_cats or var in unk_cats
        kn, un = (known_cats, unk_cats) if is_cat else (known_reals, unk_reals)
        for k in ks:
            ln = f"{var}_lagged_by_{k}"
            lst = kn if (var in kn or k >= int(dp["max_prediction_length"])) else un
            if ln not in lst:
                lst.append(ln)
    add_enc_len = dp.get("add_encoder_length", "auto")
    if add_enc_len == "auto":
        add_enc_len = dp["min_encoder_length"] != dp["max_encoder_length"]
    if add_enc_len and "encoder_length" not in static_reals:
        static_reals = static_reals + ["encoder_length"]
    if dp.get("add_target_scales"):
        for t in targets:
            for s in ("center", "scale"):
                if f"{t}_{s}" not in static_reals:
                    static_reals = static_reals + [f"{t}_{s}"]
    vgroups = {k: list(v) for k, v in (dp.get("variable_groups") or {}).items()}
    flat = []
    for c in static_cats + known_cats + unk_cats:
        flat += vgroups.get(c, [c])
    if flat != x_cats:
        raise ExportError(f"dataset categoricals {flat} do not match the model's x_categoricals {x_cats}")
    if static_reals + known_reals + unk_reals != x_reals:
        raise ExportError(f"dataset reals {static_reals + known_reals + unk_reals} do not match x_reals {x_reals}")
    for ln, (var, _) in lagged.items():
        if ln not in x_reals and ln not in x_cats:
            raise ExportError(f"lagged variable '{ln}' is in neither x_reals nor x_categoricals")
        if (ln in x_reals) != (var in x_reals):
            raise ExportError(f"lagged variable '{ln}' and '{var}' are not both reals or both categoricals")
    if dp.get("allow_missing_timesteps"):
        pass  # data preparation only; recorded
    mpl = int(dp["max_prediction_length"])
    dataset_cfg = {
        "time_idx": dp["time_idx"],
        "target": targets,
        "group_ids": group_ids,
        "max_encoder_length": int(dp["max_encoder_length"]),
        "min_encoder_length": int(dp["min_encoder_length"]),
        "max_prediction_length": mpl,
        "min_prediction_length": int(dp.get("min_prediction_length") or mpl),
        "static_categoricals": static_cats, "static_reals": static_reals,
        "time_varying_known_categoricals": known_cats, "time_varying_known_reals": known_reals,
        "time_varying_unknown_categoricals": unk_cats, "time_varying_unknown_reals": unk_reals,
        "variable_groups": vgroups,
        "add_relative_time_idx": bool(dp.get("add_relative_time_idx")),
        "add_target_scales": bool(dp.get("add_target_scales")),
        "add_encoder_length": bool(add_enc_len),
        "lags": lags,
        "allow_missing_timesteps": bool(dp.get("allow_missing_timesteps")),
        "constant_fill_strategy": {k: (v if isinstance(v, (int, float, str)) else str(v))
                                   for k, v in (dp.get("constant_fill_strategy") or {}).items()},
        "categorical_encoders": cat_enc,
        "scalers": scalers,
        "target_normalizer": target_normalizer,
    }
    export = {
        "pytorch_forecasting": pytorch_forecasting.__version__,
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "python": platform.python_version(),
        "source_sha256": sha256_file(source_path) if source_path else None,
        "source_name": os.path.basename(source_path) if source_path else None,
    }
    return {"model": model_cfg, "dataset": dataset_cfg, "aliases": {}, "export": export}


def export_model(model, out_path, source_path=None, check_forward=True):
    """Write `model` (a TemporalFusionTransformer) to out_path in the tft format; returns the config dict.
    Raises ExportError for what cannot be exported faithfully. With check_forward, also runs the float64
    reference forward (when tft_reference.py is found) on a random batch and stores the error in
    cfg["self_check_error"] (not in the file); raises ExportError above 1e-4 (relative to max(1, |output|))."""
    model = model.cpu().eval()
    cfg = build_config(model, source_path)
    tensors, aliases, sd = _state_dict_tensors(model, cfg["model"]["share_single_variable_networks"])
    cfg["aliases"] = aliases
    meta = {"format": "tft", "format_version": FORMAT_VERSION,
            "config": json.dumps(cfg, separators=(",", ":"), allow_nan=False)}
    d = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(d, exist_ok=True)
    write_safetensors(out_path, tensors, meta)
    # self-check: re-read and compare every state_dict entry (aliases resolved)
    back, meta2 = read_safetensors(out_path)
    cfg2 = json.loads(meta2["config"])
    for k, v in sd.items():
        a = back[cfg2["aliases"].get(k, k)]
        if a.shape != tuple(v.shape) or not np.array_equal(a, v.detach().cpu().numpy()):
            raise ExportError(f"self-check failed for '{k}'")
    if check_forward:
        err = self_check_forward(model, out_path)
        if err is not None and err > 1e-4:
            os.remove(out_path)
            raise ExportError(f"self-check failed: reference forward differs from the model by {err:.3g}")
        cfg["self_check_error"] = err
    return cfg


def _find_reference():
    here = os.path.dirname(os.path.abspath(__file__))
    for p in (os.path.join(here, "..", "..", "shared", "design"), os.path.join(here, "..", "shared", "design"),
              "/work/shared/design"):
        if os.path.exists(os.path.join(p, "tft_reference.py")):
            if os.path.abspath(p) not in sys.path:
                sys.path.insert(0, os.path.abspath(p))
            break
    try:
        import tft_reference
        return tft_reference
    except ImportError:
        return None


def self_check_forward(model, out_path, batch=3, seed=0):
    """Run the float64 NumPy reference (TFT_SPEC tft_reference.py) with the exported tensors and config on a random
    batch and compare with the torch model's normalized output. Returns the max abs error, or None when the
    reference is not available."""
    import torch
    ref = _find_reference()
    if ref is None:
        return None
    sd, cfg = load_exported(out_path)
    m, d = cfg["model"], cfg["dataset"]
    rng = np.random.default_rng(seed)
    member_of = {c: g for g, cs in d["variable_groups"].items() for c in cs}
    lo, hi = max(1, d["min_encoder_length"]), d["max_encoder_length"]
    enc_len = np.array(sorted(rng.integers(lo, hi + 1, batch))[::-1])
    enc_len[0] = hi
    Te, Td = hi, d["max_prediction_length"]
    dec_len = np.full(batch, Td)
    lagged = lagged_variables(d.get("lags") or {})
    base = [lagged[c][0] if c in lagged else c for c in m["x_categoricals"]]
    ncls = [len(d["categorical_encoders"][member_of.get(c, c)]["classes"]) for c in base]
    nc, nr = len(ncls), len(m["x_reals"])

    def cats(T):
        a = np.zeros((batch, T, nc), np.int64)
        for j, n in enumerate(ncls):
            a[..., j] = rng.integers(0, n, (batch, T))
        return a
    x = {"encoder_cat": cats(Te), "decoder_cat": cats(Td),
         "encoder_cont": rng.normal(size=(batch, Te, nr)).astype(np.float32),
         "decoder_cont": rng.normal(size=(batch, Td, nr)).astype(np.float32),
         "encoder_lengths": enc_len, "decoder_lengths": dec_len}
    for b in range(batch):
        x["encoder_cat"][b, enc_len[b]:] = 0
        x["encoder_cont"][b, enc_len[b]:] = 0
    xt = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in x.items()}
    nt = m["n_targets"]
    ts = torch.tensor([[0.0, 1.0]] * batch, dtype=torch.float32)
    xt["target_scale"] = [ts] * nt if nt > 1 else ts
    captured = {}
    ol = model.output_layer
    layers = list(ol) if isinstance(ol, torch.nn.ModuleList) else [ol]
    hooks = [layer.register_forward_hook(lambda mod, i, o, j=j: captured.__setitem__(j, o.detach().double().numpy()))
             for j, layer in enumerate(layers)]
    try:
        with torch.no_grad():
            model.eval()(xt)
    finally:
        for h in hooks:
            h.remove()
    got = np.stack([captured[j] for j in range(len(layers))], 1)
    r = ref.tft_forward(sd, m, x, dtype=np.float64)["prediction"]
    r = np.stack(r, 1) if isinstance(r, list) else r[:, None]
    return float((np.abs(r - got) / np.maximum(1.0, np.abs(got))).max())


def load_exported(path):
    """-> (state_dict with aliases expanded {key: np.ndarray}, config dict)"""
    tensors, meta = read_safetensors(path)
    if meta.get("format") != "tft":
        raise ValueError(f"{path}: not a tft weights file")
    cfg = json.loads(meta["config"])
    sd = dict(tensors)
    for a, c in cfg["aliases"].items():
        sd[a] = tensors[c]
    return sd, cfg


def main(argv):
    if len(argv) != 3 or argv[1].startswith("-"):
        print("usage: export.py CHECKPOINT.ckpt OUT.safetensors", file=sys.stderr)
        return 64
    ckpt, out = argv[1], argv[2]
    import warnings
    warnings.filterwarnings("ignore")
    try:
        from pytorch_forecasting import TemporalFusionTransformer
        try:
            model = TemporalFusionTransformer.load_from_checkpoint(ckpt, map_location="cpu")
        except Exception as e:  # noqa: BLE001
            raise ExportError(f"cannot load checkpoint: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        cfg = export_model(model, out, source_path=ckpt)
    except ExportError as e:
        print(f"export.py: refusing {ckpt}: {e}", file=sys.stderr)
        return 2
    err = cfg.get("self_check_error")
    if err is None:
        print("export.py: note: tft_reference.py not found, forward self-check skipped", file=sys.stderr)
    n = sum(int(np.prod(v.shape)) for v in read_safetensors(out)[0].values())
    print(f"wrote {out}: {n} parameters, {len(cfg['aliases'])} aliases, targets {cfg['dataset']['target']}, "
          f"quantiles {cfg['model']['quantiles']}" + ("" if err is None else f"; reference forward max |err| {err:.2e}"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

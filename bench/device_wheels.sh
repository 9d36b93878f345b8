#!/usr/bin/env bash
# device_wheels.sh: builds, on a machine WITH network, the kit that bench/device_check.sh needs on a lent
# GPU machine that has none (docs/DEVICE.md). Run it in the checkout whose tree the device call sends.
#
#   bash bench/device_wheels.sh [KIT_DIR]            # default KIT_DIR: .device_kit (gitignored)
#
# KIT_DIR/wheels/      pytorch-forecasting and the packages its checkpoints were pickled with, at the
#                      versions of weights/requirements.txt (pytorch-forecasting, lightning, pandas,
#                      scikit-learn) + scikit-base; wheels for the device's Python (TFT_KIT_PYVER, 3.12),
#                      manylinux x86-64, fetched with `pip download --no-deps`. The device image already
#                      has torch, numpy, scipy, lightning-utilities, torchmetrics, narwhals, joblib,
#                      threadpoolctl, python-dateutil (/work/.library/device/KINDS.md).
# KIT_DIR/sysroot.tar.xz  libcmocka (the tests) and OpenBLAS (bench_forward's sgemm reference) from
#                      Debian 12's .debs (static archives, the separate BLAS/LAPACK shims and the docs
#                      removed): used there only when the device image cannot link against its own.
# KIT_DIR/ckpt/        Lightning checkpoints for pytorch-forecasting's side of the comparison, each
#                      with the tft model exported from it and a request (optimizer state dropped):
#                      default.{ckpt,safetensors,request.json}  the default model's architecture:
#                          copied from TFT_KIT_DEFAULT_CKPT / _MODEL / _REQUEST (default:
#                          weights/work/avxquick.*, train_default.py --quick; the export's recorded
#                          checkpoint sha256 must match);
#                      electricity.{ckpt,safetensors,request.json}  weights/make_goldens.py electricity
#                          run again here (TFT_KIT_PYTHON, the pinned venv of weights/requirements.txt);
#                          training is not bit-reproducible across machines, so the kit carries the
#                          model exported from this checkpoint, not the committed golden.
# KIT_DIR/MANIFEST.txt every file with its size and sha256.
# Skip parts with TFT_KIT_SKIP=wheels,sysroot,default,electricity. Fails when the kit exceeds
# TFT_KIT_MAX_MIB (40: the device call carries at most 64 MiB with the working tree).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
KIT=${1:-.device_kit}
PYVER=${TFT_KIT_PYVER:-3.12}
KPY=${TFT_KIT_PYTHON:-python3}
SKIP=",${TFT_KIT_SKIP:-},"
MAX_MIB=${TFT_KIT_MAX_MIB:-40}
mkdir -p "$KIT"
KIT=$(cd "$KIT" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tft-kit.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

pin() { # the version weights/requirements.txt pins for package $1
    sed -n "s/^$1==\([^ #]*\).*/\1/p" weights/requirements.txt
}

if [[ $SKIP != *,wheels,* ]]; then
    echo "== wheels for Python $PYVER (manylinux x86-64) -> $KIT/wheels"
    rm -rf "$KIT/wheels" && mkdir -p "$KIT/wheels"
    specs=("pytorch-forecasting==$(pin pytorch-forecasting)" "lightning==$(pin lightning)"
           "pandas==$(pin pandas)" "scikit-learn==$(pin scikit-learn)" "scikit-base<1.1.0")
    for s in "${specs[@]}"; do [[ $s != *== ]] || { echo "no pin for ${s%==} in weights/requirements.txt" >&2; exit 2; }; done
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
        -d "$KIT/wheels" "${specs[@]}"
fi

if [[ $SKIP != *,sysroot,* ]]; then
    echo "== Debian 12 libcmocka + OpenBLAS -> $KIT/sysroot.tar.xz"
    debs=(libcmocka0 libcmocka-dev libopenblas0-pthread libopenblas-pthread-dev libgfortran5 libquadmath0)
    mkdir -p "$TMP/debs" "$TMP/sysroot"
    (cd "$TMP/debs" && { apt-get download "${debs[@]}" 2>/dev/null ||
        { apt-get update -qq && apt-get download "${debs[@]}"; }; })
    for d in "$TMP"/debs/*.deb; do dpkg-deb -x "$d" "$TMP/sysroot"; done
    # only libcmocka.so and libopenblas.so are linked: the static archives, the reference-BLAS/LAPACK
    # shims (7 MB), cmockery and the docs would only add weight
    find "$TMP/sysroot" \( -name '*.a' -o -name 'libblas.so*' -o -name 'liblapack.so*' -o -name 'libcmockery*' \) -delete
    rm -rf "$TMP/sysroot/usr/share"
    rm -f "$KIT/sysroot.tar.gz"
    tar -C "$TMP/sysroot" -cJf "$KIT/sysroot.tar.xz" usr
fi

if [[ $SKIP != *,default,* ]]; then
    echo "== default-architecture checkpoint -> $KIT/ckpt/default.*"
    ck=${TFT_KIT_DEFAULT_CKPT:-weights/work/avxquick.ckpt}
    md=${TFT_KIT_DEFAULT_MODEL:-weights/work/avxquick.safetensors}
    rq=${TFT_KIT_DEFAULT_REQUEST:-weights/work/sample_request_quick.json}
    for f in "$ck" "$md" "$rq"; do
        [[ -f $f ]] || { echo "missing $f (train one: python weights/train_default.py --quick --tag avxquick," \
                              "export it, or set TFT_KIT_DEFAULT_CKPT/_MODEL/_REQUEST; TFT_KIT_SKIP=default" \
                              "to go without)" >&2; exit 2; }
    done
    # the export records the sha256 of the checkpoint it came from: tft and pytorch-forecasting must run
    # the same weights
    want=$(python3 -c 'import json,struct,sys; f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]
print(json.loads(json.loads(f.read(n))["__metadata__"]["config"])["export"].get("source_sha256",""))' "$md")
    got=$(sha256sum "$ck" | cut -d' ' -f1)
    [[ $want == "$got" ]] || { echo "$md was not exported from $ck (recorded sha256 '$want', file $got)" >&2; exit 2; }
    mkdir -p "$KIT/ckpt"
    cp "$ck" "$TMP/default.full.ckpt"
    cp "$md" "$KIT/ckpt/default.safetensors"
    cp "$rq" "$KIT/ckpt/default.request.json"
fi

if [[ $SKIP != *,electricity,* ]]; then
    echo "== electricity checkpoint: weights/make_goldens.py electricity with $KPY -> $KIT/ckpt/electricity.*"
    mkdir -p "$KIT/ckpt"
    TFT_GOLDENS_OUT="$TMP/goldens" "$KPY" weights/make_goldens.py electricity > "$TMP/goldens.log" 2>&1 ||
        { tail -20 "$TMP/goldens.log" >&2; echo "make_goldens.py electricity failed" >&2; exit 2; }
    cp weights/work/goldens/electricity.ckpt "$TMP/electricity.full.ckpt"
    cp "$TMP/goldens/electricity/model.safetensors" "$KIT/ckpt/electricity.safetensors"
    python3 -c 'import json,struct,sys; f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]
sys.stdout.write(json.loads(f.read(n))["__metadata__"]["request"])' "$TMP/goldens/electricity/fixture.safetensors" \
        > "$KIT/ckpt/electricity.request.json"
fi

# drop what inference never reads (optimizer state, loops, callbacks): a third of the size or less
for full in "$TMP"/*.full.ckpt; do
    [[ -e $full ]] || continue
    name=$(basename "$full" .full.ckpt)
    "$KPY" - "$full" "$KIT/ckpt/$name.ckpt" <<'EOF'
import sys, warnings
warnings.filterwarnings("ignore")
import torch
ck = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
for k in ("optimizer_states", "lr_schedulers", "loops", "callbacks"):
    ck.pop(k, None)
torch.save(ck, sys.argv[2])
from pytorch_forecasting import TemporalFusionTransformer
a = TemporalFusionTransformer.load_from_checkpoint(sys.argv[1], map_location="cpu").state_dict()
b = TemporalFusionTransformer.load_from_checkpoint(sys.argv[2], map_location="cpu").state_dict()
assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "slim checkpoint differs"
EOF
done

(cd "$KIT" && find . -type f ! -name MANIFEST.txt | sort | while read -r f; do
    printf '%10d  %s  %s\n' "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)" "${f#./}"; done) > "$TMP/manifest"
mv "$TMP/manifest" "$KIT/MANIFEST.txt"
cat "$KIT/MANIFEST.txt"
total=$(du -sb "$KIT" | cut -f1)
echo "kit: $KIT, $((total / 1048576)) MiB ($total bytes)"
if ((total > MAX_MIB * 1048576)); then
    echo "the kit is over $MAX_MIB MiB: the device call carries 64 MiB with the working tree" >&2
    exit 1
fi
echo "carry it: run(command='bash bench/device_check.sh', carry=['${KIT#"$ROOT"/}'], timeout_s=540)"

#!/usr/bin/env bash
# The bundled LeNet, end to end: quantize every weight layer to 3 stored bits with bit-mask
# patterns, write the packed deployable, run inference straight from it, and compare sizes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bmq=${BMQ:-"$here/../../.build/release/bmq"}
out=${OUT:-"$(cd "$here/../.." && pwd)/out"}
mkdir -p "$out"
net="$here/lenet_train_test.prototxt" weights="$here/lenet_iter_10000.caffemodel"
data="$here/t10k-images-idx3-ubyte.gz" plan="$here/plan-3bit.json"

echo "== float and quantized accuracy (plan: $plan)"
"$bmq" eval --net "$net" --weights "$weights" --data "$data" --plan "$plan"

echo "== packed deployable"
"$bmq" convert --net "$net" --weights "$weights" --plan "$plan" --input-shape 1,28,28 -o "$out/lenet-3bit.bmq"
"$bmq" inspect "$out/lenet-3bit.bmq" --verify

echo "== inference straight from the packed file"
"$bmq" eval "$out/lenet-3bit.bmq" --data "$data"

echo "== hardware exports"
"$bmq" export "$out/lenet-3bit.bmq" --to c -o "$out/export"
"$bmq" export "$out/lenet-3bit.bmq" --to hex -o "$out/export" > /dev/null
"$bmq" export "$out/lenet-3bit.bmq" --to coe -o "$out/export" > /dev/null
echo "Verilog \$readmemh and Xilinx COE files: $out/export/"

float=$(stat -c %s "$weights") packed=$(stat -c %s "$out/lenet-3bit.bmq")
echo "== size: $weights is $float bytes, $out/lenet-3bit.bmq is $packed bytes ($(( float / packed ))x smaller)"

#!/usr/bin/env bash
# The bundled LeNet, end to end: search the best 3-bit mask pattern for every weight layer on
# 5,000 training images with 8-bit activation formats for the integer datapath, run the network
# in integers, write the packed deployable, check its accuracy straight from the packed file on
# the 10,000 test images, export it for hardware, and point to the report page.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bmq=${BMQ:-"$here/../../.build/release/bmq"}
out=${OUT:-"$(cd "$here/../.." && pwd)/out"}
bits=${BITS:-3}
mkdir -p "$out"
net="$here/lenet_train_test.prototxt" weights="$here/lenet_iter_10000.caffemodel"
calibration="$here/train-5k-images-idx3-ubyte.gz" data="$here/t10k-images-idx3-ubyte.gz"
plan="$out/lenet-${bits}bit-plan.json" packed="$out/lenet-${bits}bit.bmq"
searched="$out/lenet-${bits}bit.caffemodel"

echo "== search: $bits stored bits per weight, every weight layer, chosen on the calibration images"
# --compensate gptq picks each weight's rounding direction so the layer's output error cancels
# (seconds; at 3 bits LeNet needs no more; a bare --compensate trains the rounding end to end,
# which takes minutes and is what 2 bits need); the weights it chose are saved, since the plan
# alone would round every weight to its nearest value.
"$bmq" search --net "$net" --weights "$weights" --calibration "$calibration" --data "$data" \
    --bits "$bits" --compensate gptq --activation-bits 8 -o "$plan" --save-weights "$searched" --report "$out/search-report"

echo "== integer datapath (formats/datapath/SPEC.md): 8-bit activations from the plan"
"$bmq" eval --net "$net" --weights "$searched" --plan "$plan" --data "$data" --datapath integer | tail -n 6

echo "== packed deployable"
"$bmq" convert --net "$net" --weights "$searched" --plan "$plan" --input-shape 1,28,28 -o "$packed"
"$bmq" inspect "$packed" --verify

echo "== inference straight from the packed file"
"$bmq" eval "$packed" --data "$data"

echo "== hardware exports"
"$bmq" export "$packed" --to c -o "$out/export"
"$bmq" export "$packed" --to hex -o "$out/export" > /dev/null
"$bmq" export "$packed" --to coe -o "$out/export" > /dev/null
echo "Verilog \$readmemh and Xilinx COE files: $out/export/"

float=$(stat -c %s "$weights") size=$(stat -c %s "$packed")
echo "== size: $weights is $float bytes, $packed is $size bytes ($(( float / size ))x smaller)"
echo "== report page: $out/search-report/index.html"

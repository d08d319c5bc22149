#!/usr/bin/env python3
"""Writes lenet_keras.h5: Caffe's LeNet weights in the Keras 2 HDF5 weights layout.

Reads the Caffe HDF5 snapshot of examples/lenet-mnist's LeNet (shared/models/lenet-caffe/
lenet_iter_10000.caffemodel.h5) with h5py and writes what Keras 2's `model.save_weights`
produces for the equivalent channels-last model:

    model_weights/                       attrs: layer_names, backend, keras_version
      conv1/                             attrs: weight_names = [conv1/kernel:0, conv1/bias:0]
        conv1/kernel:0                   (KH, KW, I, O)   from Caffe (O, I, KH, KW)
        conv1/bias:0                     (O,)
      ...
      dense_1/dense_1/kernel:0           (IN, OUT) from Caffe (OUT, IN), with IN reordered
                                         from Caffe's (C, H, W) flatten order to Keras's (H, W, C)

Layer names: conv1, pool1, conv2, pool2 and flatten as in Caffe; the dense layers are named
dense_1 and dense_2 as Keras would, so importing them needs --map ip1=dense_1,ip2=dense_2.
Strings are fixed-length byte strings, as Keras 2 stored them.

Usage: python3 make_keras_lenet.py SHARED/models/lenet-caffe/lenet_iter_10000.caffemodel.h5
"""
import sys

import h5py
import numpy as np

source = sys.argv[1] if len(sys.argv) > 1 else "../../../../shared/models/lenet-caffe/lenet_iter_10000.caffemodel.h5"
caffe = h5py.File(source, "r")["data"]


def caffe_blob(layer, index):
    return np.asarray(caffe[layer][str(index)], dtype=np.float32)


def conv_kernel(layer):  # (O, I, KH, KW) -> (KH, KW, I, O)
    return caffe_blob(layer, 0).transpose(2, 3, 1, 0)


# ip1 reads pool2's 50 x 4 x 4 output; Keras flattens it channels-last.
channels, height, width = 50, 4, 4
ip1 = caffe_blob("ip1", 0)  # (500, 800), columns in (c, h, w) order
ip1_keras = ip1.reshape(500, channels, height, width).transpose(2, 3, 1, 0).reshape(height * width * channels, 500)

layers = [
    ("conv1", [("conv1/kernel:0", conv_kernel("conv1")), ("conv1/bias:0", caffe_blob("conv1", 1))]),
    ("pool1", []),
    ("conv2", [("conv2/kernel:0", conv_kernel("conv2")), ("conv2/bias:0", caffe_blob("conv2", 1))]),
    ("pool2", []),
    ("flatten", []),
    ("dense_1", [("dense_1/kernel:0", ip1_keras), ("dense_1/bias:0", caffe_blob("ip1", 1))]),
    ("dense_2", [("dense_2/kernel:0", caffe_blob("ip2", 0).T.copy()), ("dense_2/bias:0", caffe_blob("ip2", 1))]),
]

with h5py.File("lenet_keras.h5", "w") as out:
    root = out.create_group("model_weights")
    root.attrs["layer_names"] = np.array([name.encode() for name, _ in layers], dtype="S")
    root.attrs["backend"] = b"tensorflow"
    root.attrs["keras_version"] = b"2.2.4"
    for name, weights in layers:
        group = root.create_group(name)
        group.attrs["weight_names"] = np.array([w.encode() for w, _ in weights], dtype="S")
        for weight_name, value in weights:
            group.create_dataset(weight_name, data=value)

"""Runs a Keras .h5 model file forward with numpy alone (h5py reads it), without Keras or facetrain:
an independent reading of the file's layer config and weights, as Keras' layers define them.

Usage: python3 h5-numpy-forward.py MODEL.h5 INPUTS.bin N,H,W,C OUTPUTS.bin
INPUTS.bin holds float32 NHWC images; OUTPUTS.bin gets each model output's float32 values in
output order; stdout gets JSON: [{"name", "shape"}] per output.
Layers: those facetrain writes (InputLayer, Conv2D, DepthwiseConv2D, ZeroPadding2D,
BatchNormalization, ReLU, PReLU, Activation, Add, Dense, Flatten, Reshape, Permute,
GlobalAveragePooling2D, GlobalMaxPooling1D, Softmax, UnitNormalization); another one is an error.
"""
import json
import sys

import h5py
import numpy as np


def text(value):
    return value.decode("utf8") if hasattr(value, "decode") else value


def same_padding(size, kernel, stride, dilation):
    # Keras/TF "same": output ceil(size / stride), the extra pixel of an odd total at the end
    effective = (kernel - 1) * dilation + 1
    total = max((-(-size // stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def windows(x, config, kernel_shape):
    """[N, H', W', C, kh, kw] patches of x for a conv of the config (padding, strides, dilation)."""
    kh, kw = kernel_shape
    sh, sw = config["strides"]
    dh, dw = config.get("dilation_rate", [1, 1])
    if config["padding"] == "same":
        (top, bottom), (left, right) = same_padding(x.shape[1], kh, sh, dh), same_padding(x.shape[2], kw, sw, dw)
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    patches = np.lib.stride_tricks.sliding_window_view(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(1, 2))
    return patches[:, ::sh, ::sw, :, ::dh, ::dw]


def activation(name, x):
    if name == "linear":
        return x
    if name == "relu":
        return np.maximum(x, 0)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise ValueError(f"activation {name} is not implemented here")


def apply(kind, config, weights, inputs):
    x = inputs[0]
    if kind == "Conv2D":
        kernel, *bias = weights
        y = np.einsum("nhwcij,ijco->nhwo", windows(x, config, kernel.shape[:2]), kernel, optimize=True)
        return activation(config["activation"], y + (bias[0] if bias else 0))
    if kind == "DepthwiseConv2D":
        kernel, *bias = weights
        y = np.einsum("nhwcij,ijcm->nhwcm", windows(x, config, kernel.shape[:2]), kernel, optimize=True)
        y = y.reshape(*y.shape[:3], -1)
        return activation(config["activation"], y + (bias[0] if bias else 0))
    if kind == "ZeroPadding2D":
        (top, bottom), (left, right) = config["padding"]
        return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    if kind == "BatchNormalization":
        gamma, beta, mean, variance = weights
        return (x - mean) / np.sqrt(variance + config["epsilon"]) * gamma + beta
    if kind == "ReLU":
        y = np.maximum(x, 0)
        return y if config.get("max_value") is None else np.minimum(y, config["max_value"])
    if kind == "PReLU":
        (alpha,) = weights
        return np.where(x >= 0, x, alpha * x)
    if kind == "Activation":
        return activation(config["activation"], x)
    if kind == "Add":
        return sum(inputs)
    if kind == "Dense":
        kernel, *bias = weights
        return activation(config["activation"], np.tensordot(x, kernel, axes=1) + (bias[0] if bias else 0))
    if kind == "Flatten":
        return x.reshape(x.shape[0], -1)
    if kind == "Reshape":
        return x.reshape(x.shape[0], *config["target_shape"])
    if kind == "Permute":
        return x.transpose(0, *config["dims"])
    if kind == "GlobalAveragePooling2D":
        return x.mean(axis=(1, 2))
    if kind == "GlobalMaxPooling1D":
        return x.max(axis=1)
    if kind == "Softmax":
        e = np.exp(x - x.max(axis=config.get("axis", -1), keepdims=True))
        return e / e.sum(axis=config.get("axis", -1), keepdims=True)
    if kind == "UnitNormalization":
        return x / np.sqrt(np.maximum((x * x).sum(axis=config.get("axis", -1), keepdims=True), 1e-12))
    raise ValueError(f"layer class {kind} is not implemented here")


def main(model_path, inputs_path, shape, outputs_path):
    images = np.fromfile(inputs_path, dtype=np.float32).reshape([int(v) for v in shape.split(",")]).astype(np.float64)
    with h5py.File(model_path, "r") as f:
        config = json.loads(text(f.attrs["model_config"]))["config"]
        group = f["model_weights"]
        values = {}
        for layer in config["layers"]:
            name, kind = layer["name"], layer["class_name"]
            if kind == "InputLayer":
                values[name] = images
                continue
            names = [text(n) for n in group[name].attrs["weight_names"]] if name in group else []
            weights = [np.asarray(group[name][n], dtype=np.float64) for n in names]
            # one call per layer in the models facetrain writes: inbound_nodes[0] lists its inputs
            inputs = [values[source] for source, *_ in layer["inbound_nodes"][0]]
            values[name] = apply(kind, layer["config"], weights, inputs)
    outputs = [values[name] for name, *_ in config["output_layers"]]
    with open(outputs_path, "wb") as out:
        for y in outputs:
            out.write(y.astype(np.float32).tobytes())
    print(json.dumps([{"name": name, "shape": list(y.shape)} for (name, *_), y in zip(config["output_layers"], outputs)]))


if __name__ == "__main__":
    main(*sys.argv[1:5])

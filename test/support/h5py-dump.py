"""Reads a Keras .h5 model file with h5py the way Keras 2's legacy HDF5 loader does, without Keras.

Usage: python3 h5py-dump.py MODEL.h5 WEIGHTS_OUT.bin
Prints JSON: root attributes, their HDF5 string types, layer names and, per layer, its weight
names with shape/dtype and where its float32 bytes start in WEIGHTS_OUT.bin.
"""
import json
import sys

import h5py
import numpy as np


def text(value):
    # h5py 3 returns vlen strings as str and fixed-length ones as numpy bytes; Keras decodes both.
    return value.decode("utf8") if hasattr(value, "decode") else value


def name_list(group, name):
    if name in group.attrs:
        return [text(n) for n in group.attrs[name]]
    names, chunk = [], 0
    while f"{name}{chunk}" in group.attrs:
        names.extend(text(n) for n in group.attrs[f"{name}{chunk}"])
        chunk += 1
    return names


def string_type(obj, name):
    if name not in obj.attrs:
        return None
    tid = obj.attrs.get_id(name).get_type()
    if not isinstance(tid, h5py.h5t.TypeStringID):
        return {"class": type(tid).__name__}
    return {"class": "string", "variable": tid.is_variable_str(), "ascii": tid.get_cset() == h5py.h5t.CSET_ASCII}


def main(path, blob_path):
    out = {"h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version}
    with h5py.File(path, "r") as f, open(blob_path, "wb") as blob:
        out["libver"] = list(f.libver)
        out["root_attrs"] = sorted(f.attrs.keys())
        out["model_config"] = json.loads(text(f.attrs.get("model_config")))
        out["keras_version"] = text(f.attrs["keras_version"])
        out["backend"] = text(f.attrs["backend"])
        out["class_names"] = [text(n) for n in f.attrs["class_names"]] if "class_names" in f.attrs else None
        mw = f["model_weights"]
        out["types"] = {
            "model_config": string_type(f, "model_config"),
            "keras_version": string_type(f, "keras_version"),
            "layer_names": string_type(mw, "layer_names"),
            "layer_names_numpy": mw.attrs["layer_names"].dtype.str if "layer_names" in mw.attrs else None,
        }
        out["weights_keras_version"] = text(mw.attrs["keras_version"])
        out["weights_backend"] = text(mw.attrs["backend"])
        out["layer_names"] = name_list(mw, "layer_names")
        out["groups"] = sorted(mw.keys())
        layers, offset = [], 0
        for layer_name in out["layer_names"]:
            group = mw[layer_name]
            weights = []
            for weight_name in name_list(group, "weight_names"):
                value = np.asarray(group[weight_name])
                raw = value.astype("<f4").tobytes()
                blob.write(raw)
                weights.append({"name": weight_name, "shape": list(value.shape), "dtype": str(value.dtype), "offset": offset, "length": value.size})
                offset += len(raw)
            layers.append({"name": layer_name, "weights": weights})
        out["layers"] = layers
        out["top_level_weight_names"] = name_list(mw["top_level_model_weights"], "weight_names") if "top_level_model_weights" in mw else None
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

#!/usr/bin/python3
"""Converts a Keras EfficientNet weights file (.h5, e.g. efficientnetb2_notop.h5) to ember's layout.

Owns: reading the Keras 2 HDF5 weights layout with h5py and renaming/transposing each weight to
ember's names (models/efficientnet.h), which are the Keras layer names with a PyTorch-style role:
  <layer>/kernel:0            Conv2D [R, S, C, K]            -> <layer>.weight [K, R, S, C]
                              Dense  [C, classes]            -> <layer>.weight [classes, C]
  <layer>/depthwise_kernel:0  DepthwiseConv2D [R, S, C, 1]   -> <layer>.weight [C, R, S, 1]
  <layer>/bias:0                                             -> <layer>.bias
  <layer>/gamma:0, beta:0                                    -> <layer>.weight, <layer>.bias
  <layer>/moving_mean:0, moving_variance:0                   -> <layer>.running_mean, .running_var
  normalization/mean:0, variance:0                           -> normalization.mean, .variance [3]
  normalization/count:0                                      skipped (only Keras's adapt() reads it)
Every other weight in the file must map, or the conversion fails naming it; layers without
weights (input, rescaling, activations, ...) are listed by Keras and ignored.

The Keras 2 layout (keras/saving/legacy/hdf5_format.py, load_weights_from_hdf5_group): the root
(or its 'model_weights' group in a whole-model file) has the attribute layer_names; each layer's
group has the attribute weight_names ('stem_conv/kernel:0', ...) naming datasets inside that
group (/stem_conv/stem_conv/kernel:0). Long attribute lists may be split as layer_names0,
layer_names1, ... (Keras's HDF5 header limit); both forms are read.

Keras's ImageNet files store the normalisation *standard deviations* as its variance
(tensorflow/tensorflow#49930), and Keras's EfficientNet built with weights='imagenet' corrects
for it with an extra Rescaling(1/sqrt(std)) after the Normalization layer, so the network sees
(x - mean) / std. ember has no such layer: by default (--imagenet-rescaling fold) the converter
folds it into the buffer, variance' = variance * std, which gives exactly Keras's result;
--imagenet-rescaling none copies the variance as stored (a file from a model built without that
correction, e.g. weights=None then trained and saved).

A notop file has no 'predictions' layer, so the output has no predictions.* tensors: load it with
models::load_pretrained_backbone (which keeps the model's own head), not a strict load_module.
The metadata records ember.padding=tf_same and ember.bn_eps=0.001 (Keras's EfficientNet).

Usage: /usr/bin/python3 models/convert/convert_keras_h5.py IN.h5 OUT.safetensors [--imagenet-rescaling fold|none]
Tested by tests/interop/test_converters.py (a synthetic Keras-layout file written with h5py).
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

IMAGENET_STD = [0.229, 0.224, 0.225]
BN_ROLES = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
            "moving_variance": "running_var"}


class ConversionError(Exception):
    pass


def _text(v):
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def h5_attribute_list(group, name):
    """A string-list attribute, also when Keras split it into name0, name1, ..."""
    if name in group.attrs:
        return [_text(v) for v in group.attrs[name]]
    out, chunk = [], 0
    while "%s%d" % (name, chunk) in group.attrs:
        out.extend(_text(v) for v in group.attrs["%s%d" % (name, chunk)])
        chunk += 1
    return out


def read_keras_weights(path):
    """[(layer, weight name, numpy array)] in the file's layer order."""
    import h5py
    out = []
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        layers = h5_attribute_list(root, "layer_names")
        if not layers:
            raise ConversionError("no 'layer_names' attribute: not a Keras 2 HDF5 weights file")
        for layer in layers:
            if layer not in root:
                raise ConversionError("layer %r is listed in layer_names but has no group" % layer)
            g = root[layer]
            for wn in h5_attribute_list(g, "weight_names"):
                if wn not in g:
                    raise ConversionError("layer %r lists weight %r, which is not in the file" % (layer, wn))
                out.append((layer, wn, np.asarray(g[wn])))
    return out


def convert(weights, imagenet_rescaling="fold"):
    """(ember tensors, metadata, report lines) from read_keras_weights(...)'s list."""
    out = {}
    skipped = []
    layers_seen = set()

    def put(name, array):
        if name in out:
            raise ConversionError("ember tensor %r written twice (two Keras weights map to it)" % name)
        out[name] = np.ascontiguousarray(array, dtype=np.float32)

    normalization = None
    for layer, wn, a in weights:
        layers_seen.add(layer)
        base = wn.rsplit("/", 1)[-1]
        role = base.split(":", 1)[0]
        what = "%s (%s %s)" % (wn, a.dtype, list(a.shape))
        if role in ("mean", "variance", "count"):
            # Keras's Normalization: one per model, named 'normalization' here whatever its suffix.
            if normalization is not None and normalization != layer:
                raise ConversionError("two normalisation layers: %r and %r" % (normalization, layer))
            normalization = layer
            if role == "count":
                skipped.append(wn)
                continue
            v = a.reshape(-1).astype(np.float64)
            if role == "variance" and imagenet_rescaling == "fold":
                if v.shape != (3,):
                    raise ConversionError("%s: the ImageNet fold needs 3 channels" % what)
                v = v * np.array(IMAGENET_STD)
            put("normalization." + role, v)
        elif role == "kernel" and a.ndim == 4:
            put(layer + ".weight", a.transpose(3, 0, 1, 2))    # [R, S, C, K] -> [K, R, S, C]
        elif role == "kernel" and a.ndim == 2:
            put(layer + ".weight", a.transpose(1, 0))          # [C, classes] -> [classes, C]
        elif role == "depthwise_kernel":
            if a.ndim != 4 or a.shape[3] != 1:
                raise ConversionError("%s: expected [R, S, C, 1] (depth multiplier 1)" % what)
            put(layer + ".weight", a.transpose(2, 0, 1, 3))    # [R, S, C, 1] -> [C, R, S, 1]
        elif role == "bias" and a.ndim == 1:
            put(layer + ".bias", a)
        elif role in BN_ROLES and a.ndim == 1:
            put(layer + "." + BN_ROLES[role], a)
        else:
            raise ConversionError("weight %s of layer %r has no ember counterpart" % (what, layer))
    if normalization is not None:
        missing = {"normalization.mean", "normalization.variance"} - set(out)
        if missing:
            raise ConversionError("normalisation layer %r lacks %s" % (normalization, sorted(missing)))
        if normalization != "normalization":
            skipped.append("(layer %r renamed to 'normalization')" % normalization)
    has_head = "predictions.weight" in out
    metadata = {"format": "ember.efficientnet", "source": "keras",
                "ember.padding": "tf_same", "ember.bn_eps": repr(1e-3),
                "ember.include_preprocessing": "true" if normalization else "false"}
    report = [
        "%d weights from %d layers -> %d ember tensors" % (len(weights), len(layers_seen), len(out)),
        "skipped: %s" % (", ".join(skipped) if skipped else "nothing"),
        ("normalization.variance: Keras's extra Rescaling(1/sqrt(std)) folded in (variance * std)"
         if normalization and imagenet_rescaling == "fold" else
         "normalization.variance copied as stored" if normalization else
         "no normalisation layer: build with include_preprocessing=false"),
        ("classifier head 'predictions' converted" if has_head else
         "no 'predictions' layer (a notop file): load with models::load_pretrained_backbone"),
    ]
    return out, metadata, report


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("input", help="Keras weights file (.h5), e.g. efficientnetb2_notop.h5")
    p.add_argument("output", help="ember safetensors file to write")
    p.add_argument("--imagenet-rescaling", choices=("fold", "none"), default="fold",
                   help="fold Keras's weights='imagenet' Rescaling(1/sqrt(std)) into "
                        "normalization.variance (default), or copy the variance as stored")
    args = p.parse_args(argv)
    try:
        weights = read_keras_weights(args.input)
        out, metadata, report = convert(weights, args.imagenet_rescaling)
    except (ConversionError, OSError, KeyError) as e:
        print("convert_keras_h5: %s: %s" % (args.input, e), file=sys.stderr)
        return 1
    safetensors_io.write(args.output, out, metadata)
    for line in report:
        print("convert_keras_h5: " + line)
    print("convert_keras_h5: wrote %s (%d tensors, %d values)"
          % (args.output, len(out), sum(a.size for a in out.values())))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Tests of the weight converters (models/convert/convert_torchvision.py, models/convert/convert_keras_h5.py) and
the numpy safetensors writer they share (models/convert/safetensors_io.py).

- torchvision: efficientnet_b2(num_classes=10) with random weights through the command-line
  converter; elements checked by hand at known positions (a stem kernel element, a depthwise
  kernel element, an expansion and a projection weight, SE biases, BN statistics, the head), the
  trainable count against ember's documented 7,715,084, every name against the names Keras's
  layer naming implies, and errors for a leftover or a malformed source tensor.
- Keras: a synthetic file in the Keras 2 HDF5 weights layout written with h5py, its names and
  shapes derived from the torchvision conversion's ember names (inverse roles, inverse
  transposes) and filled with random numbers; the converter must give back exactly the ember
  tensors, plus element checks after each transpose, the normalisation fold, the skipped count,
  a notop file, split layer_names attributes, and an unknown weight as an error.
Run: /usr/bin/python3 tests/interop/test_converters.py [--workdir DIR] (CTest: InteropConverters).
Exit 77 (CTest SKIP_RETURN_CODE) with a reason when torch, torchvision, h5py or numpy is missing.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import interop_env
from interop_env import TOOLS

h5py, np, torch, torchvision = interop_env.require(
    ["h5py", "numpy", "torch", "torchvision"],
    "the converter tests need numpy, torch, torchvision and h5py",
    "python3-torch python3-torchvision python3-h5py python3-numpy")

import convert_keras_h5  # noqa: E402
import convert_torchvision  # noqa: E402
import safetensors_io  # noqa: E402

FAILURES = []


def check(cond, message):
    if not cond:
        FAILURES.append(message)
        print("FAIL: " + message)


def same(a, b, message):
    check(a.shape == b.shape and np.array_equal(a, b), message)


def run_tool(script, *args):
    p = subprocess.run([sys.executable, os.path.join(TOOLS, script)] + list(args),
                       capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def random_torchvision_b2(seed=0):
    torch.manual_seed(seed)
    m = torchvision.models.efficientnet_b2(num_classes=10)
    with torch.no_grad():  # nothing left at its default, so a swapped tensor is noticed
        for t in m.state_dict().values():
            if t.dtype.is_floating_point:
                t.copy_(torch.randn_like(t))
    return m


def test_safetensors_round_trip(work):
    t = {"b": np.arange(6, dtype=np.float32).reshape(2, 3), "a": np.array([1, -2], dtype=np.int64),
         "s": np.array(3.5, dtype=np.float64), "e": np.zeros((0, 4), dtype=np.float32)}
    path = os.path.join(work, "rt.safetensors")
    safetensors_io.write(path, t, {"k": "v"})
    back, meta = safetensors_io.read(path)
    check(meta == {"k": "v"}, "safetensors metadata round trip")
    for k in t:
        same(back[k], t[k], "safetensors round trip of %r" % k)
    data = open(path, "rb").read()
    n = int.from_bytes(data[:8], "little")
    check((8 + n) % 8 == 0, "header padded to a multiple of 8")
    # Largest element first, then by name: a (I64), s (F64), then b, e (F32).
    check(list(back) == ["a", "s", "b", "e"], "data order %s" % list(back))


def test_torchvision(work):
    m = random_torchvision_b2()
    sd = {k: v.numpy() for k, v in m.state_dict().items()}
    src = os.path.join(work, "tv.pth")
    torch.save(m.state_dict(), src)
    out = os.path.join(work, "tv.safetensors")
    rc, log = run_tool("convert_torchvision.py", src, out)
    check(rc == 0, "convert_torchvision failed: " + log)
    if rc:
        return None
    check("skipped 69 num_batches_tracked" in log, "the log says what it skipped: " + log)
    e, meta = safetensors_io.read(out)
    check(meta.get("ember.padding") == "symmetric" and meta.get("ember.bn_eps") == "1e-05",
          "metadata %s" % meta)
    check(all(v.dtype == np.float32 for v in e.values()), "all float32")

    # Counts: every tensor but the 69 batch counters, ember's documented trainable parameters.
    check(len(e) == len(sd) - 69, "%d ember tensors for %d source tensors" % (len(e), len(sd)))
    trainable = sum(v.size for k, v in e.items() if not k.endswith(("running_mean", "running_var")))
    check(trainable == 7715084, "trainable parameters %d, ember (and Keras) has 7,715,084" % trainable)
    check(not any(k.startswith("normalization") for k in e), "no normalisation by default")

    # Names: 23 blocks named as Keras does, stage by stage, each with its layers.
    blocks = sorted({k.split("_")[0] for k in e if k.startswith("block")})
    expected = ["block%d%s" % (s, chr(97 + j)) for s, n in enumerate([2, 3, 3, 4, 4, 5, 2], 1)
                for j in range(n)]
    check(blocks == sorted(expected), "block names %s" % blocks)
    for b in expected:
        layers = {k.split(".")[0][len(b) + 1:] for k in e if k.startswith(b + "_")}
        want = {"dwconv", "bn", "se_reduce", "se_expand", "project_conv", "project_bn"}
        if not b.startswith("block1"):
            want |= {"expand_conv", "expand_bn"}
        check(layers == want, "%s has layers %s" % (b, sorted(layers)))

    # Elements by hand (torch OIHW -> ember OHWI).
    w = sd["features.0.0.weight"]  # [32, 3, 3, 3]
    check(e["stem_conv.weight"].shape == (32, 3, 3, 3), "stem shape")
    check(e["stem_conv.weight"][5, 2, 0, 1] == w[5, 1, 2, 0], "stem_conv element")
    dw = sd["features.2.1.block.1.0.weight"]  # block2b depthwise [144, 1, 3, 3]
    check(e["block2b_dwconv.weight"].shape == (144, 3, 3, 1), "block2b_dwconv shape %s"
          % (e["block2b_dwconv.weight"].shape,))
    check(e["block2b_dwconv.weight"][100, 0, 2, 0] == dw[100, 0, 0, 2], "block2b_dwconv element")
    dw5 = sd["features.3.0.block.1.0.weight"]  # block3a: 5x5, stride 2
    check(e["block3a_dwconv.weight"][7, 4, 1, 0] == dw5[7, 0, 4, 1], "block3a 5x5 depthwise element")
    ex = sd["features.6.2.block.0.0.weight"]  # block6c expand [1248, 208, 1, 1]
    check(e["block6c_expand_conv.weight"][1000, 0, 0, 150] == ex[1000, 150, 0, 0], "expand element")
    pj = sd["features.7.1.block.3.0.weight"]  # block7b project [352, 2112, 1, 1]
    check(e["block7b_project_conv.weight"][300, 0, 0, 2000] == pj[300, 2000, 0, 0], "project element")
    se = sd["features.1.1.block.1.fc1.weight"]  # block1b SE reduce [4, 16, 1, 1]
    check(e["block1b_se_reduce.weight"][3, 0, 0, 9] == se[3, 9, 0, 0], "SE reduce element")
    same(e["block2b_se_reduce.bias"], sd["features.2.1.block.2.fc1.bias"], "block2b SE reduce bias")
    same(e["block2b_se_expand.bias"], sd["features.2.1.block.2.fc2.bias"], "block2b SE expand bias")
    same(e["block4c_bn.running_var"], sd["features.4.2.block.1.1.running_var"], "block4c BN variance")
    same(e["block5a_expand_bn.running_mean"], sd["features.5.0.block.0.1.running_mean"],
         "block5a expand BN mean")
    same(e["block1a_project_bn.weight"], sd["features.1.0.block.2.1.weight"], "block1a project BN gamma")
    same(e["top_conv.weight"][:, 0, 0, :], sd["features.8.0.weight"][:, :, 0, 0], "top conv")
    same(e["top_bn.bias"], sd["features.8.1.bias"], "top BN beta")
    same(e["predictions.weight"], sd["classifier.1.weight"], "head weight [10, 1408]")
    same(e["predictions.bias"], sd["classifier.1.bias"], "head bias")

    # A whole pickled model gives the same tensors, and --imagenet-normalization adds the buffers.
    whole = os.path.join(work, "tv_whole.pth")
    torch.save(m, whole)
    out2 = os.path.join(work, "tv_whole.safetensors")
    rc, log = run_tool("convert_torchvision.py", whole, out2, "--imagenet-normalization")
    check(rc == 0, "whole-model conversion failed: " + log)
    if rc == 0:
        e2, meta2 = safetensors_io.read(out2)
        check(set(e2) == set(e) | {"normalization.mean", "normalization.variance"}, "whole-model names")
        check(all(np.array_equal(e2[k], e[k]) for k in e), "whole-model values")
        check(np.allclose(e2["normalization.variance"], np.array([0.229, 0.224, 0.225]) ** 2),
              "ImageNet variance")
        check(meta2["ember.include_preprocessing"] == "true", "metadata says preprocessing")

    # Errors: a leftover tensor and a malformed depthwise weight are named.
    bad = dict(sd)
    bad["features.3.1.block.2.extra"] = np.zeros(3, np.float32)
    try:
        convert_torchvision.convert(bad)
        check(False, "a leftover source tensor must fail")
    except convert_torchvision.ConversionError as err:
        check("features.3.1.block.2" in str(err), "leftover error names it: %s" % err)
    bad = dict(sd)
    bad["features.2.0.block.1.0.weight"] = np.zeros((96, 96, 3, 3), np.float32)
    try:
        convert_torchvision.convert(bad)
        check(False, "a non-depthwise dwconv must fail")
    except convert_torchvision.ConversionError as err:
        check("depthwise" in str(err) and "features.2.0.block.1" in str(err), "dwconv error: %s" % err)
    return e


def keras_name(ember_name, array):
    """The Keras (layer, weight name, value) an ember tensor comes from: the converter's inverse."""
    layer, role = ember_name.rsplit(".", 1)
    if layer.endswith("_bn"):
        role = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean",
                "running_var": "moving_variance"}[role]
        return layer, role, array
    if role == "bias":
        return layer, "bias", array
    if layer == "predictions":
        return layer, "kernel", array.T
    if layer.endswith("_dwconv"):
        return layer, "depthwise_kernel", array.transpose(1, 2, 0, 3)  # [C, R, S, 1] -> [R, S, C, 1]
    return layer, "kernel", array.transpose(1, 2, 3, 0)                # [K, R, S, C] -> [R, S, C, K]


def write_keras_h5(path, ember, normalization, with_head=True, split_layer_names=False):
    """A Keras 2 weights file: layer_names on the root, weight_names on each layer group."""
    rng = np.random.default_rng(1)
    layers = {}
    order = ["input_1", "rescaling"]
    if normalization is not None:
        order.append("normalization")
        layers["normalization"] = [("mean", normalization[0]), ("variance", normalization[1]),
                                   ("count", np.array(0, dtype=np.int64))]
    for name, a in ember.items():
        if name.startswith("predictions") and not with_head:
            continue
        layer, role, value = keras_name(name, a)
        if layer not in layers:
            order.append(layer)
            layers[layer] = []
        # Fresh random numbers in the Keras shape (not the torch ones), so every element differs.
        layers[layer].append((role, rng.standard_normal(value.shape).astype(np.float32)))
    order.insert(order.index("stem_conv") + 1, "stem_activation")  # a layer without weights
    with h5py.File(path, "w") as f:
        names = [n.encode() for n in order]
        if split_layer_names:
            half = len(names) // 2
            f.attrs["layer_names0"] = names[:half]
            f.attrs["layer_names1"] = names[half:]
        else:
            f.attrs["layer_names"] = names
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.11.0"
        for layer in order:
            g = f.create_group(layer)
            wn = ["%s/%s:0" % (layer, role) for role, _ in layers.get(layer, [])]
            g.attrs["weight_names"] = [n.encode() for n in wn]
            for n, (_, value) in zip(wn, layers.get(layer, [])):
                g.create_dataset(n, data=value)
    return {(layer, role): value for layer, ws in layers.items() for role, value in ws}


def test_keras(work, ember):
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)  # Keras's files store std as "variance"
    h5 = os.path.join(work, "keras.h5")
    k = write_keras_h5(h5, ember, (mean, std))
    out = os.path.join(work, "keras.safetensors")
    rc, log = run_tool("convert_keras_h5.py", h5, out)
    check(rc == 0, "convert_keras_h5 failed: " + log)
    if rc:
        return
    check("normalization/count:0" in log, "the log names the skipped count: " + log)
    e, meta = safetensors_io.read(out)
    check(meta.get("ember.padding") == "tf_same" and meta.get("ember.bn_eps") == "0.001", "metadata")
    check(set(e) == set(ember) | {"normalization.mean", "normalization.variance"},
          "names: extra %s, missing %s" % (sorted(set(e) - set(ember))[:5], sorted(set(ember) - set(e))[:5]))
    for name in ember:
        check(e[name].shape == ember[name].shape, "%s shape %s, expected %s"
              % (name, e[name].shape, ember[name].shape))
    # Inverse of keras_name: converting the Keras arrays back must give them in ember layout.
    for name in ember:
        layer, role, _ = keras_name(name, ember[name])
        back = keras_name(name, e[name])[2]
        same(back, k[(layer, role)], "%s round trip through %s/%s" % (name, layer, role))
    # Elements by hand after each transpose.
    kk = k[("stem_conv", "kernel")]  # [3, 3, 3, 32]
    check(e["stem_conv.weight"][30, 2, 1, 0] == kk[2, 1, 0, 30], "stem kernel element")
    dk = k[("block2b_dwconv", "depthwise_kernel")]  # [3, 3, 144, 1]
    check(dk.shape == (3, 3, 144, 1), "synthetic depthwise shape %s" % (dk.shape,))
    check(e["block2b_dwconv.weight"][100, 0, 2, 0] == dk[0, 2, 100, 0], "depthwise element")
    sk = k[("block2b_se_reduce", "kernel")]  # [1, 1, 144, 6]
    check(e["block2b_se_reduce.weight"][5, 0, 0, 143] == sk[0, 0, 143, 5], "SE kernel element")
    same(e["block2b_se_expand.bias"], k[("block2b_se_expand", "bias")], "SE bias")
    same(e["block3c_project_bn.running_var"], k[("block3c_project_bn", "moving_variance")], "moving_variance")
    same(e["top_bn.weight"], k[("top_bn", "gamma")], "gamma")
    dense = k[("predictions", "kernel")]  # [1408, 10]
    check(e["predictions.weight"][7, 1400] == dense[1400, 7], "dense kernel element")
    # The Keras ImageNet fold: variance' = std * std, so ember divides by std as Keras does.
    same(e["normalization.mean"], mean, "normalisation mean")
    check(np.allclose(e["normalization.variance"], std.astype(np.float64) ** 2, rtol=1e-6),
          "folded variance %s" % e["normalization.variance"])
    rc, log = run_tool("convert_keras_h5.py", h5, out, "--imagenet-rescaling", "none")
    check(rc == 0 and np.array_equal(safetensors_io.read(out)[0]["normalization.variance"], std),
          "--imagenet-rescaling none copies the variance: " + log)

    # A notop file with split layer_names: no predictions, and the log says how to load it.
    notop = os.path.join(work, "notop.h5")
    write_keras_h5(notop, ember, (mean, std), with_head=False, split_layer_names=True)
    rc, log = run_tool("convert_keras_h5.py", notop, out)
    check(rc == 0 and "load_pretrained_backbone" in log, "notop conversion: " + log)
    if rc == 0:
        e3 = safetensors_io.read(out)[0]
        check(set(e3) == set(e) - {"predictions.weight", "predictions.bias"}, "notop names")

    # An unknown weight is an error naming it.
    with h5py.File(notop, "a") as f:
        g = f["top_bn"]
        names = [convert_keras_h5._text(n) for n in g.attrs["weight_names"]] + ["top_bn/renorm_mean:0"]
        g.attrs["weight_names"] = np.array([n.encode() for n in names], dtype="S")
        g.create_dataset("top_bn/renorm_mean:0", data=np.zeros(1408, np.float32))
    rc, log = run_tool("convert_keras_h5.py", notop, out)
    check(rc == 1 and "top_bn/renorm_mean:0" in log, "unknown weight error: " + log)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--workdir", default=None)
    args = p.parse_args()
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
        work = args.workdir
    else:
        work = tempfile.mkdtemp(prefix="ember_converters_")
    print("torch %s, torchvision %s, h5py %s; files in %s"
          % (torch.__version__, torchvision.__version__, h5py.__version__, work))
    test_safetensors_round_trip(work)
    ember = test_torchvision(work)
    if ember is not None:
        test_keras(work, ember)
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    print("all converter checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

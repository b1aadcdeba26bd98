#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus/ that need no library: safetensors files (with and
without ember's CRC-32 metadata), PNGs (every colour type, bit depths 1-16, each filter type,
palette with transparency, Adam7 interlacing), experiment configs with --set overrides, and
ledgers. The JPEG seeds come from make_jpeg_seeds.c. Deterministic: rerunning gives the same
bytes.  Run: python3 fuzz/make_seeds.py [fuzz/corpus]"""
import json
import os
import struct
import sys
import zlib

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")


def write(folder, name, data):
    os.makedirs(os.path.join(out, folder), exist_ok=True)
    with open(os.path.join(out, folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- safetensors: 8-byte little-endian header length, JSON header, data buffer ----
def safetensors(tensors, metadata=None, checksums=True):
    """tensors: list of (name, dtype, shape, raw bytes), laid out in the given order."""
    header, data = {}, b""
    meta = dict(metadata or {})
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
        if checksums:
            meta["ember.crc32." + name] = "%08x" % zlib.crc32(raw)
    if meta:
        header = {"__metadata__": meta, **header}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


write("safetensors", "ember_small.safetensors", safetensors(
    [("w", "F32", [2, 3], struct.pack("<6f", 1, -2, 0.5, 3.25, float("inf"), -0.0)),
     ("step", "I64", [], struct.pack("<q", 7)),
     ("mask", "U8", [4], bytes([0, 1, 254, 255]))],
    {"format": "ember"}))
write("safetensors", "plain_dtypes.safetensors", safetensors(
    [("a.f64", "F64", [2], struct.pack("<2d", 1.5, float("nan"))),
     ("b.i32", "I32", [1, 2], struct.pack("<2i", -1, 2 ** 31 - 1)),
     ("c.bf16", "BF16", [3], struct.pack("<3H", 0x3F80, 0xC000, 0x7F80)),
     ("d.empty", "F32", [0, 4], b"")], checksums=False))
write("safetensors", "empty.safetensors", safetensors([], checksums=False))
write("safetensors", "metadata_only.safetensors", safetensors([], {"format": "pt", "note": "x"}, False))


# ---- PNG ----
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def filter_rows(rows, bpp, first_filter=0):
    """Filters each row (bytes) with type (first_filter + row index) % 5."""
    out, prev = b"", bytes(len(rows[0]) if rows else 0)
    for i, row in enumerate(rows):
        ftype = (first_filter + i) % 5
        f = bytearray()
        for x, v in enumerate(row):
            a = row[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ftype]
            f.append((v - pred) & 0xFF)
        out += bytes([ftype]) + bytes(f)
        prev = row
    return out


def pack_row(samples, depth):
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    bits, byte, n, out = 0, 0, 0, bytearray()
    for s in samples:
        byte = (byte << depth) | s
        n += depth
        if n == 8:
            out.append(byte)
            byte, n = 0, 0
    if n:
        out.append(byte << (8 - n))
    return bytes(out)


def png(width, height, color, depth, pixel, extra=b"", interlace=False):
    """pixel(x, y) -> list of samples; color: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    bpp = max(1, channels * depth // 8)
    if interlace:  # Adam7: seven passes, each a small image filtered on its own
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        raw = b""
        for k, (x0, y0, dx, dy) in enumerate(passes):
            xs, ys = list(range(x0, width, dx)), list(range(y0, height, dy))
            if xs and ys:
                rows = [pack_row([s for x in xs for s in pixel(x, y)], depth) for y in ys]
                raw += filter_rows(rows, bpp, k)
    else:
        rows = [pack_row([s for x in range(width) for s in pixel(x, y)], depth) for y in range(height)]
        raw = filter_rows(rows, bpp)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 1 if interlace else 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


write("image", "rgb8_filters_7x5.png", png(7, 5, 2, 8, lambda x, y: [x * 36, y * 50, (x * y * 17) & 255]))
write("image", "rgba8_6x6.png", png(6, 6, 6, 8, lambda x, y: [x * 40, 255 - y * 40, 128, (x + y) * 20]))
write("image", "gray8_9x3.png", png(9, 3, 0, 8, lambda x, y: [(x * 29 + y * 3) & 255]))
write("image", "gray_alpha8_4x4.png", png(4, 4, 4, 8, lambda x, y: [x * 60, y * 60]))
write("image", "gray1_11x4.png", png(11, 4, 0, 1, lambda x, y: [(x + y) & 1]))
write("image", "gray4_5x5.png", png(5, 5, 0, 4, lambda x, y: [(x * 3 + y) & 15]))
write("image", "rgb16_3x3.png", png(3, 3, 2, 16, lambda x, y: [x * 20000, y * 30000, 65535 - x * y * 5000]))
palette = chunk(b"PLTE", bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])) + chunk(b"tRNS", bytes([0, 128]))
write("image", "palette2_tRNS_6x3.png", png(6, 3, 3, 2, lambda x, y: [(x + y) % 4], palette))
write("image", "rgb8_adam7_10x9.png", png(10, 9, 2, 8, lambda x, y: [x * 25, y * 28, 200], interlace=True))

# ---- experiment configs: file text, then NUL-separated --set assignments (fuzz_config.cpp) ----
write("config", "empty_file_one_set", "\0classifier.epochs=3")
write("config", "patch_classifier", json.dumps({"classifier": {"epochs": 5, "lr": 0.0005, "schedule": "cosine"}}))
write("config", "patch_everything", json.dumps({
    "data": "/data/eurosat", "out": "runs/x", "device": "cuda", "gpus": 2, "seeds": [0, 1, 2, 3, 4],
    "subset_seed": 1, "fraction": 0.5,
    "classifier": {"epochs": 30, "batch": 64, "optimizer": "adamw", "freeze": "backbone",
                   "extra_args": ["--label-smoothing", "0.1"], "bn_momentum": 0.95},
    "groups": {"weighted": False, "oversampled": True, "balanced_gan": True},
    "gan": {"loss": "bce", "g_widths": [256, 128, 64, 32], "d_widths": [32, 64, 128, 256], "ema": 0.999},
    "generation": {"classes": ["Highway", "River", "Forest"], "allow_short": True},
    "augmented": {"sizes": [100, 300, 500], "per": "total"},
    "quality": {"enabled": False, "count": 100},
    "report": {"browser_check": False}}, indent=2))
write("config", "sets_only", "\0seeds=[0,1,2,3,4]\0gan.epochs=2\0data=/tmp/d\0augmented.per=total"
      "\0generation.classes=[\"River\"]\0report.browser_check=false")
write("config", "patch_and_sets", json.dumps({"gan": {"epochs": 1}}) + "\0gan.batch=16\0fraction=0.25")

# ---- ledgers, as Ledger::save writes them ----
def ledger(units):
    return json.dumps({"format": "ember.experiment.ledger.v1", "units": units}, indent=2) + "\n"


write("ledger", "empty.json", ledger({}))
write("ledger", "three_units.json", ledger({
    "prepare": {"status": "done", "seconds": 12.5, "device": "cpu", "started": "2026-01-02T03:04:05Z",
                "finished": "2026-01-02T03:04:17Z", "attempts": 1, "note": ""},
    "classifier-original-0": {"status": "running", "seconds": 0.0, "device": "cuda (GPU 1)",
                              "started": "2026-01-02T03:05:00Z", "finished": "", "attempts": 2, "note": ""},
    "gan": {"status": "failed", "seconds": 3.25, "device": "cpu", "started": "2026-01-02T03:06:00Z",
            "finished": "2026-01-02T03:06:03Z", "attempts": 1, "note": "train_gan: out of memory"}}))

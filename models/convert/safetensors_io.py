"""safetensors read/write with numpy only, for the weight converters and the interop tests.

Owns: encoding and decoding the safetensors format as docs/safetensors.md describes it (8-byte
little-endian header length, a JSON header naming each tensor's dtype, shape and byte range,
then the raw little-endian data). Written here from that description so the tools need nothing
beyond Debian's python3-numpy; it lays the data out as ember's C++ writer does (element size
largest first, then name; header padded with spaces to a multiple of 8), so ember's hardened
reader (nn/safetensors.h) accepts every file written here.
Every tensor's bytes get a CRC-32 (zlib.crc32, the checksum of ember's tensor/checksum.h) in the
metadata as "ember.crc32.<name>", as ember's writer does; decode() checks them and leaves them
out of the metadata it returns, so ember's reader and this one both catch a damaged file.
Tested by tests/interop/test_converters.py (round trip, and ember's C++ reader loading the
converted files in tests/interop/compare_torch.py).
"""

import json
import os
import struct
import tempfile
import zlib

import numpy as np

# safetensors dtype name <-> numpy dtype (little-endian), the types ember reads.
_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "U8": np.dtype("u1"),
}
_NAMES = {v: k for k, v in _DTYPES.items()}
_CHECKSUM = "ember.crc32."  # metadata key prefix of a tensor's checksum


def encode(tensors, metadata=None):
    """The bytes of a safetensors file holding `tensors` (name -> numpy array)."""
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise ValueError("safetensors metadata must map strings to strings, got %r: %r" % (k, v))
            if k.startswith(_CHECKSUM):
                raise ValueError("metadata key %r is reserved for the tensors' checksums" % k)
    full_metadata = dict(metadata or {})
    arrays = {}
    for name, value in tensors.items():
        if not name or name == "__metadata__":
            raise ValueError("bad tensor name %r" % name)
        a = np.asarray(value)
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        if dt not in _NAMES:
            raise ValueError("tensor %r: dtype %s has no ember counterpart (cast it first)" % (name, a.dtype))
        arrays[name] = np.array(a, dtype=dt, order="C")  # ascontiguousarray would make scalars 1-D
    # Largest element first, then by name: every tensor starts aligned to its element size and
    # the bytes do not depend on the order of `tensors` (ember's writer does the same).
    order = sorted(arrays, key=lambda n: (-arrays[n].dtype.itemsize, n))
    for name in order:
        full_metadata[_CHECKSUM + name] = "%08x" % zlib.crc32(arrays[name].tobytes())
    header["__metadata__"] = full_metadata
    offset = 0
    for name in order:
        a = arrays[name]
        header[name] = {"dtype": _NAMES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-(8 + len(text))) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(arrays[n].tobytes() for n in order)


def write(path, tensors, metadata=None):
    """Writes a file atomically: a temporary file in the same folder, then a rename."""
    data = encode(tensors, metadata)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def decode(data, source="<memory>"):
    """(tensors, metadata) from the bytes of a file; tensors in the order of their data."""
    if len(data) < 8:
        raise ValueError("%s: shorter than the 8-byte header length" % source)
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError("%s: header length %d exceeds the file" % (source, n))
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    buf = memoryview(data)[8 + n:]
    entries = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    tensors = {}
    expect = 0
    for name, e in entries:
        if e["dtype"] not in _DTYPES:
            raise ValueError("%s: tensor %r has dtype %s, not read here" % (source, name, e["dtype"]))
        dt = _DTYPES[e["dtype"]]
        begin, end = e["data_offsets"]
        shape = tuple(e["shape"])
        if begin != expect or end > len(buf) or end - begin != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
            raise ValueError("%s: tensor %r has bad data offsets %r" % (source, name, e["data_offsets"]))
        tensors[name] = np.frombuffer(buf[begin:end], dtype=dt).reshape(shape).copy()
        expect = end
    if expect != len(buf):
        raise ValueError("%s: %d bytes after the last tensor" % (source, len(buf) - expect))
    checksums = {k[len(_CHECKSUM):]: metadata.pop(k) for k in list(metadata) if k.startswith(_CHECKSUM)}
    if checksums:
        for name, a in tensors.items():
            if name not in checksums:
                raise ValueError("%s: tensor %r has no checksum while the others have one" % (source, name))
            actual = "%08x" % zlib.crc32(a.tobytes())
            if actual != checksums.pop(name):
                raise ValueError("%s: tensor %r is damaged (its bytes have CRC-32 %s)" % (source, name, actual))
        if checksums:
            raise ValueError("%s: a checksum names tensor %r, which the file does not hold" % (source, next(iter(checksums))))
    return tensors, metadata


def read(path):
    with open(path, "rb") as f:
        return decode(f.read(), path)

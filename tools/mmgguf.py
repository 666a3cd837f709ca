"""mmgguf.py - a small, independent GGUF writer / reader in Python (numpy only).

Used by tests and training tools as the reference against which the C reader/writer (core/gguf.c) is
checked, so it is written from the format description, not from the C code:
https://github.com/ggerganov/ggml/blob/master/docs/gguf.md

    import sys; sys.path.insert(0, "<repo>/tools"); import mmgguf
    w = mmgguf.GGUFWriter()                 # GGUF v3, alignment 32 (or general.alignment if set)
    w.add_str(k, s); w.add_u32(k, v); w.add_i32(k, v); w.add_f32(k, v); w.add_bool(k, b)
    w.add_u8/i8/u16/i16/u64/i64/f64(k, v)
    w.add_arr(k, "f32"|"i32"|"u32"|"str"|..., values)
    w.add_arr(k, "arr", [("i32", [1, 2]), ("str", ["a"])])     # nested arrays: (elem_type, values)
    w.add_tensor(name, np_array, ttype="f32"|"f16"|"q8_0"|"q4_0")   # numpy shape is reversed ne
    w.add_tensor_raw(name, ttype, ne, raw_bytes)               # any ggml type, data given as bytes
    w.write(path)        # or w.to_bytes(); w.layout then holds the section offsets of the last output
    r = mmgguf.GGUFReader(path)      # or GGUFReader(data=bytes)
    r.kv[key] -> value (arrays as lists; nested arrays as lists of lists); r.kv_types[key] -> type name
    r.tensors[name] -> (ttype, ne, raw bytes); r.tensor_f32(name) -> np.ndarray (shape = reversed ne)
    mmgguf.quantize(x, "q8_0"|"q4_0") -> bytes;  mmgguf.dequantize(raw, ttype, n) -> np.float32

Quantization follows ggml's reference (deterministic) algorithm:
  Q8_0: per block of 32, d = amax/127, q = round-half-away(x/d) (x*(1/d) in float32), d stored as fp16.
  Q4_0: per block of 32, max = signed value of largest magnitude (first one), d = max/-8,
        q = min(15, trunc(x*(1/d) + 8.5)); byte j holds q[j] (low nibble) and q[j+16] (high nibble).
"""
import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32

# ---------------------------------------------------------------- metadata value types
VT = {"u8": 0, "i8": 1, "u16": 2, "i16": 3, "u32": 4, "i32": 5, "f32": 6, "bool": 7, "str": 8,
      "arr": 9, "u64": 10, "i64": 11, "f64": 12}
VT_NAME = {v: k for k, v in VT.items()}
_VT_ALIAS = {"uint8": "u8", "int8": "i8", "uint16": "u16", "int16": "i16", "uint32": "u32",
             "int32": "i32", "float32": "f32", "float": "f32", "string": "str", "array": "arr",
             "uint64": "u64", "int64": "i64", "float64": "f64", "double": "f64"}
_VT_FMT = {"u8": "<B", "i8": "<b", "u16": "<H", "i16": "<h", "u32": "<I", "i32": "<i", "f32": "<f",
           "bool": "<?", "u64": "<Q", "i64": "<q", "f64": "<d"}

# ---------------------------------------------------------------- ggml tensor types: id -> (name, block, bytes)
# Sizes from ggml's block layouts (QK_K = 256). Ids 4, 5, 31-33, 36-38 were removed from ggml.
TENSOR_TYPES = {
    0: ("f32", 1, 4), 1: ("f16", 1, 2), 2: ("q4_0", 32, 18), 3: ("q4_1", 32, 20),
    6: ("q5_0", 32, 22), 7: ("q5_1", 32, 24), 8: ("q8_0", 32, 34), 9: ("q8_1", 32, 36),
    10: ("q2_k", 256, 84), 11: ("q3_k", 256, 110), 12: ("q4_k", 256, 144), 13: ("q5_k", 256, 176),
    14: ("q6_k", 256, 210), 15: ("q8_k", 256, 292), 16: ("iq2_xxs", 256, 66), 17: ("iq2_xs", 256, 74),
    18: ("iq3_xxs", 256, 98), 19: ("iq1_s", 256, 50), 20: ("iq4_nl", 32, 18), 21: ("iq3_s", 256, 110),
    22: ("iq2_s", 256, 82), 23: ("iq4_xs", 256, 136), 24: ("i8", 1, 1), 25: ("i16", 1, 2),
    26: ("i32", 1, 4), 27: ("i64", 1, 8), 28: ("f64", 1, 8), 29: ("iq1_m", 256, 56),
    30: ("bf16", 1, 2), 34: ("tq1_0", 256, 54), 35: ("tq2_0", 256, 66), 39: ("mxfp4", 32, 17),
}
TENSOR_TYPE_ID = {v[0]: k for k, v in TENSOR_TYPES.items()}


def type_id(ttype):
    """ggml type id of a name like "q8_0" (or an int id, returned unchanged)."""
    if isinstance(ttype, int):
        return ttype
    t = ttype.lower()
    if t not in TENSOR_TYPE_ID:
        raise ValueError("unknown tensor type %r" % ttype)
    return TENSOR_TYPE_ID[t]


def type_name(tid):
    return TENSOR_TYPES[tid][0] if tid in TENSOR_TYPES else "type%d" % tid


def row_bytes(ttype, n):
    """Bytes of n elements of a type (n must be a multiple of the block size)."""
    _, blk, nb = TENSOR_TYPES[type_id(ttype)]
    if n % blk:
        raise ValueError("%d elements is not a multiple of the %s block size %d" % (n, type_name(type_id(ttype)), blk))
    return n // blk * nb


def _vt(t):
    t = t.lower()
    t = _VT_ALIAS.get(t, t)
    if t not in VT:
        raise ValueError("unknown metadata type %r" % t)
    return t


# ---------------------------------------------------------------- quantization (ggml reference algorithm)
def _round_half_away(v):
    """C roundf on float32 values, done exactly in float64."""
    v = v.astype(np.float64)
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def quantize(x, ttype):
    """Quantize a float array (flattened; size a multiple of 32 for q types) to raw GGUF block bytes."""
    t = ttype.lower()
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(-1))
    if t == "f32":
        return x.astype("<f4").tobytes()
    if t == "f16":
        return x.astype("<f2").tobytes()
    if t not in ("q8_0", "q4_0"):
        raise ValueError("quantize: unsupported type %r" % ttype)
    if x.size % 32:
        raise ValueError("quantize: %d elements is not a multiple of 32" % x.size)
    blocks = x.reshape(-1, 32)
    nb = blocks.shape[0]
    if t == "q8_0":
        amax = np.max(np.abs(blocks), axis=1)                      # float32
        d = (amax / np.float32(127)).astype(np.float32)
        with np.errstate(divide="ignore"):
            idv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
        q = _round_half_away(blocks * idv[:, None]).astype(np.int8)  # float32 product, then roundf
        out = np.empty(nb, dtype=[("d", "<f2"), ("qs", "i1", 32)])
        out["d"] = d.astype(np.float16)
        out["qs"] = q
        return out.tobytes()
    # q4_0
    idx = np.argmax(np.abs(blocks), axis=1)                        # first element of largest magnitude
    mx = blocks[np.arange(nb), idx]
    d = (mx / np.float32(-8)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    v = (blocks * idv[:, None]).astype(np.float32) + np.float32(8.5)   # float32 arithmetic like C
    q = np.minimum(15, np.trunc(v.astype(np.float64)).astype(np.int64)).astype(np.uint8)
    out = np.empty(nb, dtype=[("d", "<f2"), ("qs", "u1", 16)])
    out["d"] = d.astype(np.float16)
    out["qs"] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


def dequantize(raw, ttype, n):
    """Dequantize n elements of raw GGUF data of type f32/f16/bf16/q8_0/q4_0 to float32."""
    t = type_name(ttype) if isinstance(ttype, int) else ttype.lower()
    raw = bytes(raw)
    if t == "f32":
        return np.frombuffer(raw, dtype="<f4", count=n).astype(np.float32)
    if t == "f16":
        return np.frombuffer(raw, dtype="<f2", count=n).astype(np.float32)
    if t == "bf16":
        u = np.frombuffer(raw, dtype="<u2", count=n).astype(np.uint32) << 16
        return u.view(np.float32)
    if n % 32:
        raise ValueError("dequantize: %d elements is not a multiple of 32" % n)
    nb = n // 32
    if t == "q8_0":
        b = np.frombuffer(raw, dtype=[("d", "<f2"), ("qs", "i1", 32)], count=nb)
        d = b["d"].astype(np.float32)
        return (b["qs"].astype(np.float32) * d[:, None]).reshape(-1)
    if t == "q4_0":
        b = np.frombuffer(raw, dtype=[("d", "<f2"), ("qs", "u1", 16)], count=nb)
        d = b["d"].astype(np.float32)
        lo = (b["qs"] & 0x0F).astype(np.int32) - 8
        hi = (b["qs"] >> 4).astype(np.int32) - 8
        q = np.concatenate([lo, hi], axis=1).astype(np.float32)
        return (q * d[:, None]).reshape(-1)
    raise ValueError("dequantize: unsupported type %r" % ttype)


# ---------------------------------------------------------------- encoding helpers
def _enc_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def _enc_value(t, v):
    if t == "str":
        return _enc_str(v)
    if t == "arr":
        raise ValueError("use _enc_array")
    return struct.pack(_VT_FMT[t], v)


def _enc_array(et, values):
    et = _vt(et)
    out = [struct.pack("<IQ", VT[et], len(values))]
    if et == "arr":
        for sub in values:
            set_, svals = sub
            out.append(_enc_array(set_, svals))
    elif et == "str":
        out.extend(_enc_str(s) for s in values)
    else:
        out.append(np.asarray(values, dtype=np.dtype(_VT_FMT[et])).tobytes() if len(values) else b"")
    return b"".join(out)


def _pad(n, a):
    return (n + a - 1) // a * a


class GGUFWriter:
    """Collects metadata and tensors in insertion order and writes a GGUF v3 file."""

    def __init__(self, alignment=None):
        self.kvs = []          # (key, type, value)
        self.tensors = []      # (name, type_id, ne tuple, raw bytes)
        self._keys = set()
        self._names = set()
        self.alignment = alignment
        self.layout = {}
        if alignment is not None:
            self.add_u32("general.alignment", alignment)

    # -- metadata
    def add(self, key, vtype, value):
        vtype = _vt(vtype)
        if key in self._keys:
            raise ValueError("duplicate key %r" % key)
        self._keys.add(key)
        self.kvs.append((key, vtype, value))
        if key == "general.alignment":
            self.alignment = int(value)

    def add_u8(self, k, v): self.add(k, "u8", v)
    def add_i8(self, k, v): self.add(k, "i8", v)
    def add_u16(self, k, v): self.add(k, "u16", v)
    def add_i16(self, k, v): self.add(k, "i16", v)
    def add_u32(self, k, v): self.add(k, "u32", v)
    def add_i32(self, k, v): self.add(k, "i32", v)
    def add_u64(self, k, v): self.add(k, "u64", v)
    def add_i64(self, k, v): self.add(k, "i64", v)
    def add_f32(self, k, v): self.add(k, "f32", v)
    def add_f64(self, k, v): self.add(k, "f64", v)
    def add_bool(self, k, v): self.add(k, "bool", bool(v))
    def add_str(self, k, v): self.add(k, "str", v)

    def add_arr(self, k, elem_type, values):
        self.add(k, "arr", (_vt(elem_type), list(values)))

    # -- tensors
    def add_tensor_raw(self, name, ttype, ne, raw):
        tid = type_id(ttype)
        ne = tuple(int(x) for x in ne)
        if name in self._names:
            raise ValueError("duplicate tensor %r" % name)
        if not 1 <= len(ne) <= 4:
            raise ValueError("tensor %r: %d dims" % (name, len(ne)))
        if tid in TENSOR_TYPES:
            n = int(np.prod(ne, dtype=np.int64))
            want = row_bytes(tid, ne[0]) * (n // ne[0])
            if len(raw) != want:
                raise ValueError("tensor %r: %d bytes, expected %d" % (name, len(raw), want))
        self._names.add(name)
        self.tensors.append((name, tid, ne, bytes(raw)))

    def add_tensor(self, name, arr, ttype="f32"):
        arr = np.asarray(arr)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        ne = tuple(reversed(arr.shape))
        self.add_tensor_raw(name, ttype, ne, quantize(arr.astype(np.float32), ttype))

    # -- output
    def to_bytes(self):
        align = self.alignment if self.alignment is not None else DEFAULT_ALIGNMENT
        lay = {"kv_end": [], "ti_end": [], "tensor_data": []}
        out = bytearray()
        out += GGUF_MAGIC + struct.pack("<I", GGUF_VERSION)
        lay["version_off"] = 4
        out += struct.pack("<QQ", len(self.tensors), len(self.kvs))
        lay["header_end"] = len(out)
        for key, vtype, value in self.kvs:
            out += _enc_str(key) + struct.pack("<I", VT[vtype])
            if vtype == "arr":
                out += _enc_array(*value)
            else:
                out += _enc_value(vtype, value)
            lay["kv_end"].append(len(out))
        offs, off = [], 0
        for name, tid, ne, raw in self.tensors:
            offs.append(off)
            off = _pad(off + len(raw), align)
        for (name, tid, ne, raw), o in zip(self.tensors, offs):
            out += _enc_str(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne)
            out += struct.pack("<IQ", tid, o)
            lay["ti_end"].append(len(out))
        out += b"\0" * (_pad(len(out), align) - len(out))
        data_start = len(out)
        lay["data_start"] = data_start
        for (name, tid, ne, raw), o in zip(self.tensors, offs):
            assert len(out) == data_start + o
            lay["tensor_data"].append(len(out))
            out += raw
            out += b"\0" * (_pad(len(out) - data_start, align) - (len(out) - data_start))
        lay["end"] = len(out)
        lay["alignment"] = align
        self.layout = lay
        return bytes(out)

    def write(self, path):
        data = self.to_bytes()
        with open(path, "wb") as f:
            f.write(data)
        return len(data)


# ---------------------------------------------------------------- reader
class GGUFError(ValueError):
    pass


class GGUFReader:
    """Parses a whole GGUF file (v2 or v3) into kv / tensors dictionaries."""

    def __init__(self, path=None, data=None):
        if data is None:
            with open(path, "rb") as f:
                data = f.read()
        self.data = bytes(data)
        self.pos = 0
        self.kv = {}
        self.kv_types = {}     # key -> type name ("u32", "str", "arr", ...)
        self.arr_types = {}    # key -> element type name for arrays
        self.tensors = {}      # name -> (ttype name, ne tuple, raw bytes)
        self.tensor_types = {} # name -> ggml type id
        self.tensor_offsets = {}
        self._parse()

    def _take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise GGUFError("truncated at byte %d (need %d more)" % (self.pos, n))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def _unpack(self, fmt):
        return struct.unpack(fmt, self._take(struct.calcsize(fmt)))[0]

    def _str(self):
        n = self._unpack("<Q")
        return self._take(n).decode("utf-8", errors="surrogateescape")

    def _value(self, t):
        tn = VT_NAME.get(t)
        if tn is None:
            raise GGUFError("unknown metadata type %d" % t)
        if tn == "str":
            return self._str()
        if tn == "arr":
            et = self._unpack("<I")
            n = self._unpack("<Q")
            etn = VT_NAME.get(et)
            if etn is None:
                raise GGUFError("unknown array type %d" % et)
            if etn not in ("str", "arr"):
                dt = np.dtype(_VT_FMT[etn])
                raw = self._take(n * dt.itemsize)
                return [x.item() for x in np.frombuffer(raw, dtype=dt)]
            return [self._value(et) for _ in range(n)]
        return self._unpack(_VT_FMT[tn])

    def _parse(self):
        if self._take(4) != GGUF_MAGIC:
            raise GGUFError("bad magic")
        self.version = self._unpack("<I")
        if self.version not in (2, 3):
            raise GGUFError("unsupported version %d" % self.version)
        n_t = self._unpack("<Q")
        n_kv = self._unpack("<Q")
        for _ in range(n_kv):
            k = self._str()
            t = self._unpack("<I")
            if k in self.kv:
                raise GGUFError("duplicate key %r" % k)
            v = self._value(t)
            self.kv[k] = v
            self.kv_types[k] = VT_NAME[t]
        self.alignment = int(self.kv.get("general.alignment", DEFAULT_ALIGNMENT))
        infos = []
        for _ in range(n_t):
            name = self._str()
            nd = self._unpack("<I")
            if not 1 <= nd <= 4:
                raise GGUFError("tensor %r: n_dims %d" % (name, nd))
            ne = tuple(self._unpack("<Q") for _ in range(nd))
            tid = self._unpack("<I")
            off = self._unpack("<Q")
            if name in self.tensor_types:
                raise GGUFError("duplicate tensor %r" % name)
            if tid not in TENSOR_TYPES:
                raise GGUFError("tensor %r: unknown type %d" % (name, tid))
            self.tensor_types[name] = tid
            infos.append((name, tid, ne, off))
        data_start = _pad(self.pos, self.alignment)
        self.data_start = data_start
        for name, tid, ne, off in infos:
            n = 1
            for d in ne:
                n *= d
            nbytes = row_bytes(tid, ne[0]) * (n // ne[0])
            a = data_start + off
            if off % self.alignment or a + nbytes > len(self.data):
                raise GGUFError("tensor %r: bad offset %d" % (name, off))
            self.tensors[name] = (type_name(tid), ne, self.data[a:a + nbytes])
            self.tensor_offsets[name] = off

    def tensor_f32(self, name):
        ttype, ne, raw = self.tensors[name]
        n = 1
        for d in ne:
            n *= d
        return dequantize(raw, ttype, n).reshape(tuple(reversed(ne)))


if __name__ == "__main__":   # python3 tools/mmgguf.py FILE: dump a file (debugging aid)
    import sys
    r = GGUFReader(sys.argv[1])
    print("version", r.version, "alignment", r.alignment)
    for k, v in r.kv.items():
        s = repr(v)
        print("%-40s %-5s %s" % (k, r.kv_types[k], s if len(s) < 100 else s[:97] + "..."))
    for name, (t, ne, raw) in r.tensors.items():
        print("%-40s %-6s %-24s %d bytes" % (name, t, list(ne), len(raw)))

"""malformed.py - hand-assembled GGUF files, valid and broken, for the reader's hostile-input tests.

Built byte by byte with struct (not with tools/mmgguf.py), so the cases can lie in any field.
    cases()          -> [(name, bytes, substring the error must contain)]
    truncations()    -> (bytes, [(cut, label)], data_end): section boundaries of a valid file
    python3 malformed.py --seeds DIR   writes small valid/broken files as fuzzing seeds
"""
import struct
import sys

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
F32T, F16T, Q4_0T, Q8_0T = 0, 1, 2, 8


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


def s(x):
    b = x.encode() if isinstance(x, str) else bytes(x)
    return u64(len(b)) + b


def kv(key, vtype, payload):
    return s(key) + u32(vtype) + payload


def kv_str(key, val):
    return kv(key, STR, s(val))


def kv_u32(key, v):
    return kv(key, U32, u32(v))


def arr(etype, n, payload):
    return u32(etype) + u64(n) + payload


def ti(name, dims, ttype, off):
    return s(name) + u32(len(dims)) + b"".join(u64(d) for d in dims) + u32(ttype) + u64(off)


def ti_nd(name, n_dims, dims, ttype, off):
    return s(name) + u32(n_dims) + b"".join(u64(d) for d in dims) + u32(ttype) + u64(off)


def gguf(kvs, tis, data=b"", version=3, n_t=None, n_kv=None, align=32, magic=b"GGUF"):
    out = magic + u32(version) + u64(len(tis) if n_t is None else n_t) + u64(len(kvs) if n_kv is None else n_kv)
    out += b"".join(kvs) + b"".join(tis)
    out += b"\0" * ((-len(out)) % align)
    return out + data


ARCH = kv_str("general.architecture", "gpt2")
T0 = ti("a", [32, 2], F32T, 0)          # 256 bytes of f32
DATA = bytes(range(256))


def base(**kw):
    return gguf([ARCH], [T0], DATA, **kw)


def cases():
    c = []
    add = lambda name, data, want: c.append((name, data, want))
    b = base()
    add("empty", b"", "empty")
    add("three_bytes", b"GGU", "not a GGUF")
    add("bad_magic", b"GGML" + b[4:], "magic")
    add("lowercase_magic", b"gguf" + b[4:], "magic")
    add("version_1", base(version=1), "version 1")
    add("version_4", base(version=4), "version 4")
    add("version_0", base(version=0), "version 0")
    add("version_big_endian", base(version=0x03000000), "big-endian")
    add("n_kv_huge", base(n_kv=2**63), "metadata entries")
    add("n_kv_max", base(n_kv=2**64 - 1), "metadata entries")
    add("n_kv_too_many", base(n_kv=40), "")
    add("n_tensors_huge", base(n_t=2**63 + 7), "tensors")
    add("n_tensors_too_many", base(n_t=9), "")
    add("key_len_huge", gguf([u64(2**64 - 1) + b"k" + u32(U32) + u32(1)], [T0], DATA), "length")
    add("key_len_past_end", gguf([u64(10**6) + b"key"], [], b""), "length")
    add("str_len_huge", gguf([kv("k", STR, u64(2**63) + b"abc")], [T0], DATA), "length")
    add("arr_u8_count_huge", gguf([kv("k", ARR, arr(U8, 2**62, b"\1\2"))], [T0], DATA), "does not fit")
    add("arr_u64_count_overflow", gguf([kv("k", ARR, arr(U64, 2**61 + 1, b""))], [T0], DATA), "does not fit")
    add("arr_str_count_huge", gguf([kv("k", ARR, arr(STR, 2**61, s("a")))], [T0], DATA), "does not fit")
    add("arr_arr_count_huge", gguf([kv("k", ARR, arr(ARR, 2**60, b""))], [T0], DATA), "does not fit")
    add("arr_str_elem_len_huge", gguf([kv("k", ARR, arr(STR, 2, s("a") + u64(2**64 - 2)))], [T0], DATA), "length")
    nest = arr(U8, 1, b"\7")
    for _ in range(9):
        nest = arr(ARR, 1, nest)
    add("nested_too_deep", gguf([kv("k", ARR, nest)], [T0], DATA), "nested")
    add("kv_type_unknown", gguf([kv("k", 13, u32(0))], [T0], DATA), "unknown value type")
    add("kv_type_max", gguf([kv("k", 0xFFFFFFFF, u32(0))], [T0], DATA), "unknown value type")
    add("arr_elem_type_unknown", gguf([kv("k", ARR, arr(99, 1, b"\0" * 8))], [T0], DATA), "unknown array element type")
    add("key_with_nul", gguf([kv_str("gen\0eral", "x")], [T0], DATA), "NUL")
    add("duplicate_key", gguf([ARCH, kv_u32("x", 1), kv_str("general.architecture", "gpt2")], [T0], DATA), "duplicate metadata key")
    add("alignment_zero", gguf([ARCH, kv_u32("general.alignment", 0)], [T0], DATA), "power of two")
    add("alignment_3", gguf([ARCH, kv_u32("general.alignment", 3)], [T0], DATA, align=3), "power of two")
    add("alignment_48", gguf([ARCH, kv_u32("general.alignment", 48)], [T0], DATA, align=48), "power of two")
    add("alignment_wrong_type", gguf([ARCH, kv("general.alignment", I32, u32(64))], [T0], DATA), "u32")
    add("tensor_name_len_huge", gguf([ARCH], [u64(2**62) + b"a"], DATA), "length")
    add("tensor_name_too_long", gguf([ARCH], [ti("n" * 64, [32, 2], F32T, 0)], DATA), "limit")
    add("tensor_name_nul", gguf([ARCH], [ti("a\0b", [32, 2], F32T, 0)], DATA), "NUL")
    add("n_dims_5", gguf([ARCH], [ti_nd("a", 5, [4, 4, 2, 2, 1], F32T, 0)], DATA), "n_dims")
    add("n_dims_0", gguf([ARCH], [ti_nd("a", 0, [], F32T, 0)], DATA), "n_dims")
    add("n_dims_max", gguf([ARCH], [ti_nd("a", 0xFFFFFFFF, [1], F32T, 0)], DATA), "n_dims")
    add("dims_overflow_2x32", gguf([ARCH], [ti("a", [2**32, 2**32], F32T, 0)], DATA), "overflows")
    add("dims_overflow_4d", gguf([ARCH], [ti("a", [2**16, 2**16, 2**16, 2**16], F32T, 0)], DATA), "overflows")
    add("dims_overflow_2_62", gguf([ARCH], [ti("a", [2**62, 2], F32T, 0)], DATA), "overflows")
    add("dim_above_int64", gguf([ARCH], [ti("a", [2**63], F32T, 0)], DATA), "too large")
    add("dim_max_u64", gguf([ARCH], [ti("a", [32, 2**64 - 1], F32T, 0)], DATA), "too large")
    add("bytes_past_end_f32_2_61", gguf([ARCH], [ti("a", [2**61], F32T, 0)], DATA), "outside")
    add("bytes_overflow_f64", gguf([ARCH], [ti("a", [2**31, 2**31], 28, 0)], DATA), "size in bytes overflows")
    add("dim_zero", gguf([ARCH], [ti("a", [32, 0], F32T, 0)], DATA), "zero")
    add("dim_zero_first", gguf([ARCH], [ti("a", [0], F32T, 0)], DATA), "zero")
    add("q8_0_ne0_33", gguf([ARCH], [ti("a", [33], Q8_0T, 0)], DATA), "block size")
    add("q4_0_ne0_16", gguf([ARCH], [ti("a", [16, 2], Q4_0T, 0)], DATA), "block size")
    add("type_unknown_40", gguf([ARCH], [ti("a", [32, 2], 40, 0)], DATA), "unknown tensor type")
    add("type_unknown_1000", gguf([ARCH], [ti("a", [32, 2], 1000, 0)], DATA), "unknown tensor type")
    add("type_unknown_max", gguf([ARCH], [ti("a", [32, 2], 0xFFFFFFFF, 0)], DATA), "unknown tensor type")
    add("type_removed_q4_2", gguf([ARCH], [ti("a", [32, 2], 4, 0)], DATA), "no longer supported")
    add("type_removed_q4_0_4_4", gguf([ARCH], [ti("a", [32, 2], 31, 0)], DATA), "no longer supported")
    add("offset_misaligned", gguf([ARCH], [ti("a", [8], F32T, 4)], DATA), "multiple of the alignment")
    add("offset_misaligned_1", gguf([ARCH], [ti("a", [8], F32T, 1)], DATA), "multiple of the alignment")
    add("offset_past_end", gguf([ARCH], [ti("a", [32, 2], F32T, 256)], DATA), "outside")
    add("offset_partly_outside", gguf([ARCH], [ti("a", [32, 2], F32T, 32)], DATA), "outside")
    add("offset_huge_wraps", gguf([ARCH], [ti("a", [8], F32T, 2**64 - 32)], DATA), "outside")
    add("offset_2_63", gguf([ARCH], [ti("a", [8], F32T, 2**63)], DATA), "outside")
    add("data_missing", gguf([ARCH], [T0], b""), "outside")
    add("data_short", gguf([ARCH], [T0], DATA[:255]), "outside")
    add("duplicate_tensor", gguf([ARCH], [ti("a", [8], F32T, 0), ti("b", [8], F32T, 32), ti("a", [8], F32T, 64)], DATA), "duplicate tensor name")
    add("overlapping_tensors", gguf([ARCH], [ti("a", [32], F32T, 0), ti("b", [32], F32T, 64)], DATA), "overlaps")
    add("same_offset_tensors", gguf([ARCH], [ti("a", [8], F32T, 0), ti("b", [8], F32T, 0)], DATA), "overlaps")
    add("value_truncated_u64", gguf([kv("k", U64, b"\1\2\3")], [], b"", align=1), "truncated")
    add("bool_truncated", gguf([kv("k", BOOL, b"")], [], b"", align=1), "truncated")
    return c


def valid_rich():
    """A valid file with several kv types, nested arrays and two tensors; returns (bytes, cuts, data_end)."""
    pieces = []   # (label, bytes)
    pieces.append(("magic", b"GGUF"))
    pieces.append(("version", u32(3)))
    pieces.append(("n_tensors", u64(2)))
    pieces.append(("n_kv", u64(5)))
    kvs = [ARCH, kv_u32("gpt2.block_count", 2), kv("e", F32, struct.pack("<f", 1e-5)),
           kv("tokenizer.ggml.tokens", ARR, arr(STR, 3, s("!") + s("\"") + s("#"))),
           kv("n", ARR, arr(ARR, 2, arr(I32, 2, u32(1) + u32(2)) + arr(STR, 1, s("x"))))]
    for i, k in enumerate(kvs):
        # split each kv into key length / key / type / value
        klen = struct.unpack("<Q", k[:8])[0]
        pieces.append(("kv%d key length" % i, k[:8]))
        pieces.append(("kv%d key" % i, k[8:8 + klen]))
        pieces.append(("kv%d type" % i, k[8 + klen:12 + klen]))
        pieces.append(("kv%d value" % i, k[12 + klen:]))
    for i, t in enumerate([ti("token_embd.weight", [32, 2], Q8_0T, 0), ti("output_norm.weight", [4], F32T, 96)]):
        nlen = struct.unpack("<Q", t[:8])[0]
        pieces.append(("tensor%d name length" % i, t[:8]))
        pieces.append(("tensor%d name" % i, t[8:8 + nlen]))
        pieces.append(("tensor%d n_dims" % i, t[8 + nlen:12 + nlen]))
        pieces.append(("tensor%d dims" % i, t[12 + nlen:-12]))
        pieces.append(("tensor%d type" % i, t[-12:-8]))
        pieces.append(("tensor%d offset" % i, t[-8:]))
    out, cuts = b"", []
    for label, p in pieces:
        cuts.append((len(out), "start of " + label))
        if len(p) > 1:
            cuts.append((len(out) + len(p) // 2, "inside " + label))
        out += p
    pad = (-len(out)) % 32
    cuts.append((len(out), "end of tensor infos"))
    out += b"\0" * pad
    cuts.append((len(out), "start of data"))
    data = bytes((i * 5) & 255 for i in range(2 * 34)) + b"\0" * 28 + struct.pack("<4f", 1, 2, 3, 4)
    cuts.append((len(out) + 34, "inside tensor0 data"))
    cuts.append((len(out) + 96, "start of tensor1 data"))
    cuts.append((len(out) + len(data) - 1, "one byte before the end"))
    out += data
    return out, cuts, len(out)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--seeds":
        import os
        d = sys.argv[2]
        os.makedirs(d, exist_ok=True)
        rich, _, _ = valid_rich()
        seeds = {"valid_base.gguf": base(), "valid_rich.gguf": rich,
                 "valid_v2.gguf": base(version=2), "valid_no_tensors.gguf": gguf([ARCH, kv_u32("x", 1)], [])}
        for name, data, _ in cases():
            if name in ("nested_too_deep", "dims_overflow_2x32", "offset_misaligned", "duplicate_tensor",
                        "arr_str_elem_len_huge", "overlapping_tensors", "alignment_3"):
                seeds["bad_" + name + ".gguf"] = data
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print("wrote %d seeds to %s" % (len(seeds), d))

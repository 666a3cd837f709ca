"""sndfile_py.py - libsndfile through ctypes for the audio tests (an independent decoder/encoder of
audio files: the test oracle side, not the code under test).

  read(path)                        -> (float32 array [frames, channels], samplerate)
  write(path, data, sr, fmt) -> bool   data float32 [frames, channels]; fmt = major | subtype below
"""
import ctypes
import ctypes.util

import numpy as np

_lib = ctypes.CDLL(ctypes.util.find_library("sndfile") or "libsndfile.so.1")


class SF_INFO(ctypes.Structure):
    _fields_ = [("frames", ctypes.c_int64), ("samplerate", ctypes.c_int), ("channels", ctypes.c_int),
                ("format", ctypes.c_int), ("sections", ctypes.c_int), ("seekable", ctypes.c_int)]


_lib.sf_open.restype = ctypes.c_void_p
_lib.sf_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(SF_INFO)]
_lib.sf_readf_float.restype = ctypes.c_int64
_lib.sf_readf_float.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
_lib.sf_writef_float.restype = ctypes.c_int64
_lib.sf_writef_float.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
_lib.sf_close.argtypes = [ctypes.c_void_p]

SFM_READ, SFM_WRITE = 0x10, 0x20
WAV, AIFF, FLAC, OGG, MPEG = 0x010000, 0x020000, 0x170000, 0x200000, 0x230000


def read(path):
    info = SF_INFO()
    h = _lib.sf_open(path.encode(), SFM_READ, ctypes.byref(info))
    assert h, path
    chunks = []
    while True:
        buf = np.zeros((65536, info.channels), np.float32)
        n = _lib.sf_readf_float(h, buf.ctypes.data, 65536)
        if n <= 0:
            break
        chunks.append(buf[:n])
    _lib.sf_close(h)
    return np.concatenate(chunks, 0), info.samplerate


def write(path, data, sr, fmt):
    """False when this libsndfile cannot write fmt."""
    data = np.ascontiguousarray(data, dtype=np.float32)
    info = SF_INFO(0, sr, data.shape[1], fmt, 0, 0)
    h = _lib.sf_open(path.encode(), SFM_WRITE, ctypes.byref(info))
    if not h:
        return False
    _lib.sf_writef_float(h, data.ctypes.data, len(data))
    _lib.sf_close(h)
    return True

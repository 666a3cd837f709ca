/* sniff.c - the one format sniffer (mm_sniff, mm_core.h): a file's container format by its first bytes. */
#include <string.h>

#include "mm_core.h"

mm_format mm_sniff(const void *data, size_t n) {
    const unsigned char *b = data;
#define HAS(off, s) (n >= (off) + sizeof(s) - 1 && !memcmp(b + (off), s, sizeof(s) - 1))
    if (!b) return MM_FORMAT_UNKNOWN;
    if (HAS(0, "GGUF")) return MM_FORMAT_GGUF;
    /* images (the prefixes stb_image tests; TGA has no magic) */
    if (HAS(0, "\x89PNG\r\n\x1a\n")) return MM_FORMAT_PNG;
    if (HAS(0, "\xff\xd8\xff")) return MM_FORMAT_JPEG;
    if (HAS(0, "GIF8")) return MM_FORMAT_GIF;
    if (HAS(0, "BM")) return MM_FORMAT_BMP;
    if (HAS(0, "8BPS")) return MM_FORMAT_PSD;
    if (HAS(0, "#?")) return MM_FORMAT_HDR;
    if (n >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6') return MM_FORMAT_PNM;
    /* audio */
    if ((HAS(0, "RIFF") || HAS(0, "RIFX") || HAS(0, "RF64")) && HAS(8, "WAVE")) return MM_FORMAT_WAV;
    if (HAS(0, "fLaC")) return MM_FORMAT_FLAC;
    if (HAS(0, "OggS")) return MM_FORMAT_OGG;
    if (HAS(0, ".snd")) return MM_FORMAT_AU;
    if (HAS(0, "caff")) return MM_FORMAT_CAF;
    if (HAS(0, "FORM") && (HAS(8, "AIFF") || HAS(8, "AIFC"))) return MM_FORMAT_AIFF;
    if (HAS(0, "ID3")) return MM_FORMAT_MP3;
    if (n >= 2 && b[0] == 0xff && (b[1] & 0xe0) == 0xe0 && (b[1] & 0x06) != 0) return MM_FORMAT_MP3; /* MPEG frame */
#undef HAS
    return MM_FORMAT_UNKNOWN;
}

const char *mm_format_name(mm_format f) {
    static const char *names[] = {"unknown", "GGUF", "PNG", "JPEG", "GIF", "BMP", "PSD", "HDR", "PNM",
                                  "WAV",     "FLAC", "Ogg", "AU",   "CAF", "AIFF", "MP3"};
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "unknown";
}

bool mm_format_is_image(mm_format f) { return f >= MM_FORMAT_PNG && f <= MM_FORMAT_PNM; }
bool mm_format_is_audio(mm_format f) { return f >= MM_FORMAT_WAV && f <= MM_FORMAT_MP3; }

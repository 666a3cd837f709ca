/* sniff.c - the one format sniffer (mm_sniff, mm_core.h): a file's container format by its first bytes. */
#include <string.h>

#include "mm_core.h"

/* The length of the MPEG audio frame whose header is b[0..3] (1, 2 or 3 bytes known: n), 0 when it is not one:
 * the 11-bit sync, no reserved version, layer, bitrate, sample rate or emphasis; 1 for a free-format or
 * partly known header (its length is not known). Lengths as ISO 11172-3 / 13818-3: Layer I 4-byte slots. */
static size_t mpeg_frame_len(const unsigned char *b, size_t n) {
    static const unsigned short kbps[2][3][15] = {
        {{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448},  /* MPEG-1 layer I */
         {0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384},     /* II */
         {0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}},     /* III */
        {{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256},     /* MPEG-2 / 2.5 layer I */
         {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},          /* II */
         {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}}};        /* III */
    static const unsigned rate1[3] = {44100, 48000, 32000};
    if (n < 2 || b[0] != 0xff || (b[1] & 0xe0) != 0xe0) return 0;
    const int ver = (b[1] >> 3) & 3, layer = (b[1] >> 1) & 3; /* ver 3: MPEG-1, 2: MPEG-2, 0: 2.5; layer 3: I */
    if (ver == 1 || layer == 0) return 0;
    if (n < 3) return 1;
    const int br = b[2] >> 4, sr = (b[2] >> 2) & 3, pad = (b[2] >> 1) & 1;
    if (br == 15 || sr == 3 || (n >= 4 && (b[3] & 3) == 2)) return 0;
    if (br == 0 || n < 4) return 1;
    const unsigned rate = rate1[sr] >> (ver == 3 ? 0 : ver == 2 ? 1 : 2);
    const unsigned long bps = 1000ul * kbps[ver != 3][3 - layer][br];
    if (layer == 3) return (size_t)(12 * bps / rate + (unsigned)pad) * 4;
    return (size_t)((layer == 1 && ver != 3 ? 72 : 144) * bps / rate + (unsigned)pad);
}

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
    /* an MPEG frame without an ID3 tag: where the data holds its end, the next frame's header must follow
     * (same version and layer; a UTF-16LE text starts with FF FE, which reads as a Layer I header) */
    const size_t len = mpeg_frame_len(b, n);
    if (len > 1 && n >= len + 2) return b[len] == 0xff && (b[len + 1] & 0xfe) == (b[1] & 0xfe) ? MM_FORMAT_MP3 : MM_FORMAT_UNKNOWN;
    if (len) return MM_FORMAT_MP3;
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

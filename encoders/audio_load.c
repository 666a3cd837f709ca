/* audio_load.c - decode a sound file (libsndfile) -> mono float PCM -> 16 kHz (libsamplerate).
 *
 * Files are hostile: the header's frame count is not trusted (some formats leave it unknown or a
 * crafted WAV claims gigabytes); we read blocks until EOF and stop with an error as soon as the
 * decoded length passes the duration cap. Channels and sample rate are range-checked before any
 * decoding, and non-finite or absurd (|x| > 1e4, full scale being 1) float samples are refused.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include <samplerate.h>
#include <sndfile.h>

#include "mm_audio.h"

#define AUD_MIN_RATE 1000
#define AUD_MAX_RATE 384000
#define AUD_BLOCK    4096   /* frames per sf_readf_float call */
#define AUD_MAX_ABS  1e4f   /* |sample| above this is corrupt data (full scale is 1.0) */

mm_audio_load_params mm_audio_load_default_params(void) {
    mm_audio_load_params p;
    p.max_seconds  = 600.0;
    p.max_channels = 8;
    p.target_rate  = MM_AUDIO_SAMPLE_RATE;
    p.converter    = SRC_SINC_BEST_QUALITY;
    return p;
}

void mm_audio_pcm_free(mm_audio_pcm *pcm) {
    if (!pcm) return;
    free(pcm->samples);
    memset(pcm, 0, sizeof *pcm);
}

/* ---------------------------------------------------------------- memory I/O for sf_open_virtual */
typedef struct {
    const unsigned char *data;
    sf_count_t size;
    sf_count_t pos;
} mem_io;

static sf_count_t mem_get_filelen(void *user) { return ((mem_io *)user)->size; }

static sf_count_t mem_seek(sf_count_t offset, int whence, void *user) {
    mem_io *m = user;
    sf_count_t base;
    switch (whence) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = m->pos; break;
    case SEEK_END: base = m->size; break;
    default: return -1;
    }
    /* overflow-safe: both are within [0, 2^63) as long as offset is bounded */
    if (offset > 0 && base > INT64_MAX - offset) return -1;
    sf_count_t np = base + offset;
    if (np < 0) return -1;
    m->pos = np;   /* seeking past the end is allowed; reads there return 0 bytes */
    return m->pos;
}

static sf_count_t mem_read(void *ptr, sf_count_t count, void *user) {
    mem_io *m = user;
    if (count <= 0 || m->pos >= m->size) return 0;
    sf_count_t n = m->size - m->pos;
    if (n > count) n = count;
    memcpy(ptr, m->data + m->pos, (size_t)n);
    m->pos += n;
    return n;
}

static sf_count_t mem_write(const void *ptr, sf_count_t count, void *user) {
    (void)ptr; (void)count; (void)user;
    return 0;  /* read-only */
}

static sf_count_t mem_tell(void *user) { return ((mem_io *)user)->pos; }

/* ---------------------------------------------------------------- resampling */
int mm_audio_resample(const float *in, int64_t n_in, int rate_in, int rate_out, int converter,
                      float **out, int64_t *n_out, char *err) {
    *out = NULL;
    *n_out = 0;
    if (n_in < 0 || rate_in < AUD_MIN_RATE || rate_in > AUD_MAX_RATE || rate_out < AUD_MIN_RATE ||
        rate_out > AUD_MAX_RATE)
        return mm_err(err, "%s: bad arguments (n %lld, rates %d -> %d)", __func__, (long long)n_in,
                      rate_in, rate_out);
    if (converter < SRC_SINC_BEST_QUALITY || converter > SRC_LINEAR)
        return mm_err(err, "%s: unknown libsamplerate converter %d", __func__, converter);
    if (n_in == 0) return 0;
    /* n_in is capped by the loader (600 s x 384 kHz ~ 2.3e8), so the products below cannot overflow. */
    if (n_in > ((int64_t)1 << 40)) return mm_err(err, "%s: input too long", __func__);
    int64_t want = (int64_t)llround((double)n_in * rate_out / rate_in);
    if (rate_in == rate_out) {
        float *o = malloc((size_t)n_in * sizeof *o);
        if (!o) return mm_err(err, "%s: out of memory", __func__);
        memcpy(o, in, (size_t)n_in * sizeof *o);
        *out = o;
        *n_out = n_in;
        return 0;
    }
    if (want == 0) return 0;
    if (want > LONG_MAX / 2 || n_in > LONG_MAX / 2)
        return mm_err(err, "%s: input too long for libsamplerate", __func__);
    /* Generous room: libsamplerate may emit a few more frames than want when flushing. */
    int64_t cap = want + 64;
    float *o = calloc((size_t)cap, sizeof *o);
    if (!o) return mm_err(err, "%s: out of memory (%lld samples)", __func__, (long long)cap);
    SRC_DATA d;
    memset(&d, 0, sizeof d);
    d.data_in = in;
    d.input_frames = (long)n_in;
    d.data_out = o;
    d.output_frames = (long)cap;
    d.src_ratio = (double)rate_out / rate_in;
    d.end_of_input = 1;
    int e = src_simple(&d, converter, 1);
    if (e) {
        free(o);
        return mm_err(err, "%s: libsamplerate: %s", __func__, src_strerror(e));
    }
    /* Output length fixed at round(n_in * ratio): pad with zeros (calloc) or trim the flush tail. */
    *out = o;
    *n_out = want;
    return 0;
}

/* ---------------------------------------------------------------- decoding */
/* Growable output buffer of mono samples. */
typedef struct {
    float  *p;
    int64_t n, cap;
} fbuf;

static int fbuf_reserve(fbuf *b, int64_t need) {
    if (need <= b->cap) return 0;
    int64_t nc = b->cap ? b->cap : 65536;
    while (nc < need) nc *= 2;
    float *t = realloc(b->p, (size_t)nc * sizeof *t);
    if (!t) return -1;
    b->p = t;
    b->cap = nc;
    return 0;
}

/* Feed n mono frames (n == 0 with eoi: flush) through the streaming converter into o. */
static int src_feed(SRC_STATE *st, double ratio, const float *in, long n, int eoi, fbuf *o, const char *name,
                    char *err) {
    for (;;) {
        /* room for this block's output plus the filter's delay line on flush */
        if (fbuf_reserve(o, o->n + (int64_t)((double)n * ratio) + 4096))
            return mm_err(err, "%s: out of memory", name);
        SRC_DATA d;
        memset(&d, 0, sizeof d);
        d.data_in = in;
        d.input_frames = n;
        d.data_out = o->p + o->n;
        d.output_frames = (long)(o->cap - o->n);
        d.src_ratio = ratio;
        d.end_of_input = eoi;
        int e = src_process(st, &d);
        if (e) return mm_err(err, "%s: libsamplerate: %s", name, src_strerror(e));
        o->n += d.output_frames_gen;
        in += d.input_frames_used;
        n -= d.input_frames_used;
        if (n == 0 && (!eoi || d.output_frames_gen == 0)) return 0;
    }
}

/* Read blocks until EOF (never trusting the header's frame count), mix to mono, and either keep the
 * file's rate or resample block by block, so memory stays bounded by the output length. */
static int decode(SNDFILE *sf, const SF_INFO *info, const char *name, const mm_audio_load_params *p,
                  mm_audio_pcm *out, char *err) {
    const int ch = info->channels;
    const int rate = info->samplerate;
    const double cap_d = p->max_seconds * (double)rate;
    const int64_t cap = cap_d >= 9e15 ? (int64_t)9e15 : (int64_t)cap_d;  /* frames */
    const bool resample = p->target_rate != 0 && p->target_rate != rate;
    const double ratio = resample ? (double)p->target_rate / rate : 1.0;

    float *block = malloc((size_t)AUD_BLOCK * (size_t)ch * sizeof *block);
    float *mono = malloc((size_t)AUD_BLOCK * sizeof *mono);
    fbuf o = {0};
    SRC_STATE *st = NULL;
    int64_t n = 0;
    int rc = 0;
    if (!block || !mono) {
        rc = mm_err(err, "%s: out of memory", name);
        goto done;
    }
    if (resample) {
        int e = 0;
        st = src_new(p->converter, 1, &e);
        if (!st) {
            rc = mm_err(err, "%s: libsamplerate: %s", name, src_strerror(e));
            goto done;
        }
    }
    for (;;) {
        sf_count_t got = sf_readf_float(sf, block, AUD_BLOCK);
        if (got <= 0) break;
        if (n + got > cap) {
            rc = mm_err(err, "%s: longer than the %g s limit (%d Hz, more than %lld frames)", name,
                        p->max_seconds, rate, (long long)cap);
            goto done;
        }
        const float inv = 1.0f / (float)ch;
        float *dst = mono;
        if (!resample) {
            if (fbuf_reserve(&o, n + got)) {
                rc = mm_err(err, "%s: out of memory (%lld samples)", name, (long long)(n + got));
                goto done;
            }
            dst = o.p + n;
        }
        for (sf_count_t i = 0; i < got; i++) {
            const float *f = block + (size_t)i * (size_t)ch;
            float s = 0.0f;
            for (int c = 0; c < ch; c++) s += f[c];
            if (!(fabsf(s) <= AUD_MAX_ABS * (float)ch)) {  /* also catches NaN / inf */
                rc = mm_err(err, "%s: %s sample at frame %lld (corrupt data?)", name,
                            isfinite(s) ? "out-of-range" : "non-finite", (long long)(n + i));
                goto done;
            }
            dst[i] = ch == 1 ? s : s * inv;
        }
        if (resample) {
            if (src_feed(st, ratio, mono, (long)got, 0, &o, name, err)) {
                rc = -1;
                goto done;
            }
        } else {
            o.n = n + got;
        }
        n += got;
    }
    if (sf_error(sf) != SF_ERR_NO_ERROR) {
        rc = mm_err(err, "%s: decoding failed after %lld frames: %s", name, (long long)n, sf_strerror(sf));
        goto done;
    }
    if (resample) {
        if (src_feed(st, ratio, mono, 0, 1, &o, name, err)) {
            rc = -1;
            goto done;
        }
        /* length fixed at round(n * ratio): trim the flush tail or pad with zeros */
        const int64_t want = (int64_t)llround((double)n * ratio);
        if (fbuf_reserve(&o, want + 1)) {
            rc = mm_err(err, "%s: out of memory", name);
            goto done;
        }
        for (int64_t i = o.n; i < want; i++) o.p[i] = 0.0f;
        o.n = want;
    }
    out->src_rate = rate;
    out->src_channels = ch;
    out->src_frames = n;
    out->sample_rate = resample ? p->target_rate : rate;
    out->n_samples = o.n;
    if (o.n > 0) {
        float *t = realloc(o.p, (size_t)o.n * sizeof *t);  /* shrink to fit */
        out->samples = t ? t : o.p;
        o.p = NULL;
    }
done:
    if (st) src_delete(st);
    free(block);
    free(mono);
    free(o.p);
    return rc;
}

static int check_params(const mm_audio_load_params *p, char *err) {
    if (!(p->max_seconds > 0.0) || p->max_seconds > 1e7)
        return mm_err(err, "mm_audio_load: max_seconds %g out of range", p->max_seconds);
    if (p->max_channels < 1 || p->max_channels > 1024)
        return mm_err(err, "mm_audio_load: max_channels %d out of range", p->max_channels);
    if (p->target_rate != 0 && (p->target_rate < AUD_MIN_RATE || p->target_rate > AUD_MAX_RATE))
        return mm_err(err, "mm_audio_load: target_rate %d out of range", p->target_rate);
    if (p->converter < SRC_SINC_BEST_QUALITY || p->converter > SRC_LINEAR)
        return mm_err(err, "mm_audio_load: unknown converter %d", p->converter);
    return 0;
}

static int check_info(const SF_INFO *info, const char *name, const mm_audio_load_params *p, char *err) {
    if (info->channels < 1 || info->channels > p->max_channels)
        return mm_err(err, "%s: %d channels (1..%d supported)", name, info->channels, p->max_channels);
    if (info->samplerate < AUD_MIN_RATE || info->samplerate > AUD_MAX_RATE)
        return mm_err(err, "%s: sample rate %d Hz out of range (%d..%d)", name, info->samplerate,
                      AUD_MIN_RATE, AUD_MAX_RATE);
    return 0;
}

/* libsndfile takes any bytes that start with an MPEG frame sync for MPEG audio and hands them to libmpg123,
 * which prints a warning on stderr and fails with "File does not exist..." (a UTF-16 text starts with FF FE).
 * Refused here unless core's sniffer finds MPEG frames: true after writing err. */
static bool false_mpeg(const unsigned char *b, size_t n, const char *name, char *err) {
    if (n < 2 || b[0] != 0xff || (b[1] & 0xe0) != 0xe0 || mm_sniff(b, n) == MM_FORMAT_MP3) return false;
    mm_err(err, "%s: not a readable sound file (Format not recognised: an MPEG frame sync with no MPEG audio frames)",
           name);
    return true;
}

static int load_common(SNDFILE *sf, SF_INFO *info, const char *name, const mm_audio_load_params *p,
                       mm_audio_pcm *out, char *err) {
    if (!sf) return mm_err(err, "%s: not a readable sound file (%s)", name, sf_strerror(NULL));
    int rc = check_info(info, name, p, err);
    if (!rc) rc = decode(sf, info, name, p, out, err);
    sf_close(sf);
    if (rc) mm_audio_pcm_free(out);
    return rc;
}

int mm_audio_load_file(const char *path, const mm_audio_load_params *p, mm_audio_pcm *out, char *err) {
    mm_audio_load_params dp = mm_audio_load_default_params();
    if (!p) p = &dp;
    memset(out, 0, sizeof *out);
    if (!path) return mm_err(err, "%s: no path", __func__);
    if (check_params(p, err)) return -1;
    const int kind = mm_path_kind(path, err);
    if (kind < 0) return -1;
    if (kind == MM_PATH_STREAM) {
        /* a pipe or terminal (/dev/stdin): read it once, then decode from memory (libsndfile would need to
         * seek in most formats, and a caller may have sniffed the first bytes already) */
        void *data = NULL;
        size_t size = 0;
        if (mm_read_media(path, &data, &size, err)) return -1;
        int rc = mm_audio_load_memory(data, size, path, p, out, err);
        free(data);
        return rc;
    }
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size == 0) return mm_err(err, "%s: empty file (0 bytes)", path);
    unsigned char head[MM_SNIFF_BYTES];
    FILE         *f = fopen(path, "rb");
    const size_t  nh = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    if (false_mpeg(head, nh, path, err)) return -1;
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    return load_common(sf, &info, path, p, out, err);
}

int mm_audio_load_memory(const void *data, size_t size, const char *name, const mm_audio_load_params *p,
                         mm_audio_pcm *out, char *err) {
    mm_audio_load_params dp = mm_audio_load_default_params();
    if (!p) p = &dp;
    if (!name) name = "<memory>";
    memset(out, 0, sizeof *out);
    if (!data && size) return mm_err(err, "%s: NULL data", name);
    if (check_params(p, err)) return -1;
    if (size == 0) return mm_err(err, "%s: empty file (0 bytes)", name);
    if ((uint64_t)size > (uint64_t)INT64_MAX) return mm_err(err, "%s: too large", name);
    if (false_mpeg(data, size, name, err)) return -1;
    mem_io m = {data, (sf_count_t)size, 0};
    SF_VIRTUAL_IO vio = {mem_get_filelen, mem_seek, mem_read, mem_write, mem_tell};
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open_virtual(&vio, SFM_READ, &info, &m);
    return load_common(sf, &info, name, p, out, err);
}

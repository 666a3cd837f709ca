/* server_api.c - `mmgpt serve` without the network: base64, the request parser and the error objects
 * (server.h is the manual). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "mm_core.h"
#include "mm_transformer.h"
#include "server.h"

/* ---------------------------------------------------------------- base64 */
size_t mm_b64_max_decoded(size_t n) { return n / 4 * 3 + 3; }

static int b64_value(unsigned char ch) {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
}

long mm_b64_decode(const char *src, size_t n, unsigned char *out) {
    uint32_t acc = 0;
    int      bits = 0, pad = 0;
    size_t   o = 0, nchar = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') continue;
        if (ch == '=') {
            pad++;
            if (pad > 2) return -1;
            continue;
        }
        if (pad) return -1; /* data after padding */
        int v = b64_value(ch);
        if (v < 0) return -1;
        nchar++;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (nchar % 4 == 1) return -1;                       /* 6 bits cannot make a byte */
    if (pad && (nchar + (size_t)pad) % 4 != 0) return -1; /* padding must complete the quantum */
    return (long)o;
}

/* ---------------------------------------------------------------- errors */
static int bad(mm_srv_error *e, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(mm_srv_error *e, const char *param, const char *fmt, ...) {
    e->status = 400;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *error_type(int status) {
    switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 405: return "invalid_request_error";
    case 413: return "request_too_large";
    case 503: return "server_busy";
    default: return "server_error";
    }
}

/* OpenAI's error codes are strings or null (the SDK types code as string | null): its own where one fits */
static const char *error_code(int status, const char *param) {
    if (status == 401) return "invalid_api_key";
    if (status == 404 && param && !strcmp(param, "model")) return "model_not_found";
    return NULL;
}

char *mm_srv_error_json(int status, const char *message, const char *param) {
    cJSON *root = cJSON_CreateObject(), *er = cJSON_AddObjectToObject(root, "error");
    char  *msg = mm_utf8_sanitize(message, strlen(message), NULL);
    cJSON_AddStringToObject(er, "message", msg ? msg : "error");
    cJSON_AddStringToObject(er, "type", error_type(status));
    if (param && *param) cJSON_AddStringToObject(er, "param", param);
    else cJSON_AddNullToObject(er, "param");
    const char *code = error_code(status, param);
    if (code) cJSON_AddStringToObject(er, "code", code);
    else cJSON_AddNullToObject(er, "code");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    free(msg);
    return s;
}

/* ---------------------------------------------------------------- request */
static char *dup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

static int oom(mm_srv_error *e) {
    e->status = 500;
    e->param[0] = 0;
    snprintf(e->message, sizeof e->message, "out of memory");
    return -1;
}

static int text_ok(const char *s, const char *param, mm_srv_error *e) {
    if (!mm_utf8_valid(s, strlen(s))) return bad(e, param, "%s is not valid UTF-8", param);
    return 0;
}

/* Append a part to msg (takes text/data). */
static int push_part(mm_srv_msg *m, mm_srv_part p, mm_srv_error *e) {
    mm_srv_part *np = realloc(m->parts, (size_t)(m->n_parts + 1) * sizeof *np);
    if (!np) {
        free(p.text);
        free(p.data);
        return oom(e);
    }
    m->parts = np;
    m->parts[m->n_parts++] = p;
    return 0;
}

static int decode_b64_field(const char *b64, size_t n, const char *param, mm_srv_part *p, mm_srv_error *e) {
    if (n == 0) return bad(e, param, "%s: empty base64 data", param);
    p->data = malloc(mm_b64_max_decoded(n));
    if (!p->data) return oom(e);
    long k = mm_b64_decode(b64, n, p->data);
    if (k <= 0) {
        free(p->data);
        p->data = NULL;
        return bad(e, param, "%s: invalid base64 data", param);
    }
    p->size = (size_t)k;
    return 0;
}

static int parse_image(const cJSON *iu, const char *param, mm_srv_part *p, mm_srv_error *e) {
    const cJSON *url = cJSON_IsString(iu) ? iu : cJSON_GetObjectItemCaseSensitive(iu, "url");
    if (!cJSON_IsString(url)) return bad(e, param, "%s.url must be a string", param);
    const char *u = url->valuestring;
    if (strncmp(u, "data:", 5) != 0)
        return bad(e, param,
                   "%s: only data: URLs are accepted (data:image/png;base64,...); the server fetches nothing from "
                   "the network",
                   param);
    const char *comma = strchr(u, ',');
    if (!comma) return bad(e, param, "%s: a data: URL needs a comma before its data", param);
    size_t hl = (size_t)(comma - u);
    if (hl < 12 || strncmp(comma - 7, ";base64", 7) != 0)
        return bad(e, param, "%s: the data: URL must be base64 (data:image/...;base64,...)", param);
    if (strncmp(u + 5, "image/", 6) != 0 && strncmp(u + 5, "application/octet-stream", 24) != 0)
        return bad(e, param, "%s: the data: URL's type must be image/...", param);
    p->kind = MM_PART_IMAGE;
    return decode_b64_field(comma + 1, strlen(comma + 1), param, p, e);
}

static int parse_audio(const cJSON *ia, const char *param, mm_srv_part *p, mm_srv_error *e) {
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(ia, "data");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(ia, "format");
    if (!cJSON_IsObject(ia)) return bad(e, param, "%s must be an object {\"data\", \"format\"}", param);
    if (!cJSON_IsString(data)) return bad(e, param, "%s.data must be a base64 string", param);
    if (!cJSON_IsString(fmt)) return bad(e, param, "%s.format must be a string (wav, mp3, flac, ogg)", param);
    const char *f = fmt->valuestring;
    if (strcmp(f, "wav") && strcmp(f, "mp3") && strcmp(f, "flac") && strcmp(f, "ogg"))
        return bad(e, param, "%s.format '%.32s' is not one of wav, mp3, flac, ogg", param, f);
    p->kind = MM_PART_AUDIO;
    return decode_b64_field(data->valuestring, strlen(data->valuestring), param, p, e);
}

static int parse_content(const cJSON *content, int mi, bool user, mm_srv_msg *m, mm_srv_req *req, mm_srv_error *e) {
    char param[64];
    snprintf(param, sizeof param, "messages[%d].content", mi);
    if (cJSON_IsString(content)) {
        if (text_ok(content->valuestring, param, e)) return -1;
        char *t = dup_n(content->valuestring, strlen(content->valuestring));
        if (!t) return oom(e);
        return push_part(m, (mm_srv_part){.kind = MM_PART_TEXT, .text = t}, e);
    }
    if (!cJSON_IsArray(content)) return bad(e, param, "%s must be a string or an array of content parts", param);
    int k = 0;
    const cJSON *pt;
    cJSON_ArrayForEach(pt, content) {
        char pp[96];
        snprintf(pp, sizeof pp, "messages[%d].content[%d]", mi, k++);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(pt, "type");
        if (!cJSON_IsObject(pt) || !cJSON_IsString(type)) return bad(e, pp, "%s must be an object with a \"type\"", pp);
        const char *ty = type->valuestring;
        mm_srv_part  p = {0};
        if (!strcmp(ty, "text")) {
            const cJSON *tx = cJSON_GetObjectItemCaseSensitive(pt, "text");
            if (!cJSON_IsString(tx)) return bad(e, pp, "%s.text must be a string", pp);
            if (text_ok(tx->valuestring, pp, e)) return -1;
            if (!(p.text = dup_n(tx->valuestring, strlen(tx->valuestring)))) return oom(e);
            p.kind = MM_PART_TEXT;
        } else if (!strcmp(ty, "image_url") || !strcmp(ty, "input_audio")) {
            if (!user) return bad(e, pp, "%s: media are accepted in user messages only", pp);
            bool img = !strcmp(ty, "image_url");
            if (img ? parse_image(cJSON_GetObjectItemCaseSensitive(pt, "image_url"), pp, &p, e)
                    : parse_audio(cJSON_GetObjectItemCaseSensitive(pt, "input_audio"), pp, &p, e))
                return -1;
            req->media_bytes += p.size;
            req->n_media++;
        } else {
            return bad(e, pp, "%s: content part type '%.32s' is not supported (text, image_url, input_audio)", pp, ty);
        }
        if (push_part(m, p, e)) return -1;
    }
    if (m->n_parts == 0) return bad(e, param, "%s is empty", param);
    return 0;
}

/* Assistant messages hold text only: their parts joined. */
static int flatten_text(mm_srv_msg *m, mm_srv_error *e) {
    size_t n = 0;
    for (int i = 0; i < m->n_parts; i++) n += strlen(m->parts[i].text) + 1;
    char *s = malloc(n + 1);
    if (!s) return oom(e);
    s[0] = 0;
    for (int i = 0; i < m->n_parts; i++) {
        if (i) strcat(s, "\n");
        strcat(s, m->parts[i].text);
        free(m->parts[i].text);
    }
    m->parts[0].text = s;
    m->n_parts = 1;
    return 0;
}

static int get_number(const cJSON *root, const char *name, double lo, double hi, bool lo_open, double *out,
                      mm_srv_error *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return bad(e, name, "%s must be a number", name);
    double x = v->valuedouble;
    if (x > hi || x < lo || (lo_open && x == lo))
        return bad(e, name, "%s %g is outside %s%g, %g]", name, x, lo_open ? "(" : "[", lo, hi);
    *out = x;
    return 1;
}

static int get_int(const cJSON *root, const char *name, double lo, double hi, long long *out, mm_srv_error *e) {
    double x;
    int    r = get_number(root, name, lo, hi, false, &x, e);
    if (r <= 0) return r;
    if (x != floor(x)) return bad(e, name, "%s must be an integer", name);
    *out = (long long)x;
    return 1;
}

/* A value of an unsupported field that asks for what the server does anyway (the SDKs and frameworks send
 * these): tools / functions [] (no tools), tool_choice "none", response_format {"type": "text"},
 * modalities ["text"], logit_bias {} (no bias). */
static bool noop_value(const char *name, const cJSON *v) {
    if (!strcmp(name, "tools") || !strcmp(name, "functions")) return cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0;
    if (!strcmp(name, "tool_choice") || !strcmp(name, "function_call"))
        return cJSON_IsString(v) && !strcmp(v->valuestring, "none");
    if (!strcmp(name, "logit_bias")) return cJSON_IsObject(v) && cJSON_GetArraySize(v) == 0;
    if (!strcmp(name, "modalities"))
        return cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1 && cJSON_IsString(v->child) &&
               !strcmp(v->child->valuestring, "text");
    if (!strcmp(name, "response_format")) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(v, "type");
        return cJSON_IsObject(v) && cJSON_GetArraySize(v) == 1 && cJSON_IsString(t) && !strcmp(t->valuestring, "text");
    }
    return false;
}

static int refuse(const cJSON *root, mm_srv_error *e) {
    static const char *never[] = {"tools", "tool_choice", "functions", "function_call", "response_format",
                                  "logit_bias", "audio", "modalities", "prediction", "parallel_tool_calls",
                                  "web_search_options", "reasoning_effort", "verbosity"};
    for (size_t i = 0; i < sizeof never / sizeof *never; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, never[i]);
        if (v && !cJSON_IsNull(v) && !noop_value(never[i], v))
            return bad(e, never[i], "%s is not supported by this server", never[i]);
    }
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "n");
    if (n && !cJSON_IsNull(n) && !(cJSON_IsNumber(n) && n->valuedouble == 1))
        return bad(e, "n", "n must be 1 (one answer per request)");
    const char *lp[] = {"logprobs", "top_logprobs"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, lp[i]);
        if (v && !cJSON_IsNull(v) && !cJSON_IsFalse(v) && !(i == 1 && cJSON_IsNumber(v) && v->valuedouble == 0))
            return bad(e, lp[i], "%s is not supported by this server", lp[i]);
    }
    return 0;
}

/* "seed": -1 asks for a random seed (llama-server's convention; clients of llama.cpp send it): the clock and a
 * per-process count, mixed by the sampler's PRNG (mm_rng), different for every request. */
static uint64_t random_seed(void) {
    static _Atomic uint64_t count;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    mm_rng r;
    mm_rng_seed(&r, ((uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec) ^ (++count * 0x9e3779b97f4a7c15u));
    return mm_rng_next(&r);
}

static int parse_sampling(const cJSON *root, mm_srv_req *req, mm_srv_error *e) {
    mmgpt_gen_params *g = &req->gen;
    double            x = 0;
    long long         k = 0;
    int               r;
    if ((r = get_number(root, "temperature", 0, 2, false, &x, e)) < 0) return -1;
    if (r) g->temperature = (float)x;
    if ((r = get_number(root, "top_p", 0, 1, false, &x, e)) < 0) return -1;
    if (r) g->top_p = (float)x;
    if ((r = get_number(root, "min_p", 0, 1, false, &x, e)) < 0) return -1;
    if (r) g->min_p = (float)x;
    if ((r = get_number(root, "repeat_penalty", 0, 1e6, true, &x, e)) < 0) return -1;
    if (r) g->repeat_penalty = (float)x;
    if ((r = get_number(root, "presence_penalty", -2, 2, false, &x, e)) < 0) return -1;
    if (r) g->presence_penalty = (float)x;
    if ((r = get_number(root, "frequency_penalty", -2, 2, false, &x, e)) < 0) return -1;
    if (r) g->frequency_penalty = (float)x;
    if ((r = get_int(root, "repeat_last_n", -1, 1 << 30, &k, e)) < 0) return -1;
    if (r) g->repeat_last_n = (int)k;
    if ((r = get_int(root, "top_k", -1, 1 << 30, &k, e)) < 0) return -1;
    if (r) g->top_k = (int)k;
    if ((r = get_int(root, "seed", -1, 9007199254740991.0, &k, e)) < 0) return -1;
    if (r) g->seed = k == -1 ? random_seed() : (uint64_t)k;
    if ((r = get_int(root, "max_tokens", 1, 1 << 30, &k, e)) < 0) return -1;
    if (r) g->max_tokens = (int)k;
    if ((r = get_int(root, "max_completion_tokens", 1, 1 << 30, &k, e)) < 0) return -1;
    if (r) g->max_tokens = (int)k;

    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (stop && !cJSON_IsNull(stop)) {
        const cJSON *one = cJSON_IsString(stop) ? stop : NULL, *s;
        if (!one && !cJSON_IsArray(stop)) return bad(e, "stop", "stop must be a string or an array of strings");
        if (!one && cJSON_GetArraySize(stop) > 4) return bad(e, "stop", "stop holds at most 4 strings");
        for (s = one ? one : stop->child; s; s = one ? NULL : s->next) {
            if (!cJSON_IsString(s) || !s->valuestring[0])
                return bad(e, "stop", "stop strings must be non-empty strings");
            if (text_ok(s->valuestring, "stop", e)) return -1;
            if (!(req->stop[req->n_stop++] = dup_n(s->valuestring, strlen(s->valuestring)))) return oom(e);
        }
    }
    g->stop = (const char *const *)req->stop;
    g->n_stop = req->n_stop;

    const cJSON *ie = cJSON_GetObjectItemCaseSensitive(root, "ignore_eos");
    if (ie && !cJSON_IsNull(ie) && !cJSON_IsBool(ie)) return bad(e, "ignore_eos", "ignore_eos must be true or false");
    g->ignore_eos = cJSON_IsTrue(ie);

    const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "stream");
    if (st && !cJSON_IsNull(st) && !cJSON_IsBool(st)) return bad(e, "stream", "stream must be true or false");
    req->stream = cJSON_IsTrue(st);
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so)) return bad(e, "stream_options", "stream_options must be an object");
        req->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    }
    return 0;
}

static int parse_messages(const cJSON *msgs, mm_srv_req *req, mm_srv_error *e) {
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
        return bad(e, "messages", "messages must be a non-empty array");
    int n = cJSON_GetArraySize(msgs);
    if (!(req->msgs = calloc((size_t)n, sizeof *req->msgs))) return oom(e);
    size_t sys_len = 0;
    int    mi = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        char param[48];
        snprintf(param, sizeof param, "messages[%d]", mi);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role)) return bad(e, param, "%s needs a \"role\"", param);
        if (!content || cJSON_IsNull(content)) return bad(e, param, "%s needs a \"content\"", param);
        const char *r = role->valuestring;
        if (!strcmp(r, "system") || !strcmp(r, "developer")) {
            if (req->n_msgs > 0)
                return bad(e, param, "%s: system messages are accepted only before the first user message", param);
            mm_srv_msg tmp = {0};
            if (parse_content(content, mi, false, &tmp, req, e) || flatten_text(&tmp, e)) {
                for (int i = 0; i < tmp.n_parts; i++) free(tmp.parts[i].text);
                free(tmp.parts);
                return -1;
            }
            const char *t = tmp.parts[0].text;
            char       *ns = realloc(req->system, sys_len + strlen(t) + 2);
            if (!ns) {
                free(tmp.parts[0].text);
                free(tmp.parts);
                return oom(e);
            }
            if (sys_len) ns[sys_len++] = '\n';
            strcpy(ns + sys_len, t);
            sys_len += strlen(t);
            req->system = ns;
            free(tmp.parts[0].text);
            free(tmp.parts);
        } else if (!strcmp(r, "user") || !strcmp(r, "assistant")) {
            bool user = !strcmp(r, "user");
            bool want_user = req->n_msgs % 2 == 0;
            if (user != want_user)
                return bad(e, param, "%s: user and assistant messages must alternate, starting with user", param);
            mm_srv_msg *dst = &req->msgs[req->n_msgs++];
            dst->assistant = !user;
            if (parse_content(content, mi, user, dst, req, e)) return -1;
            if (!user && flatten_text(dst, e)) return -1;
        } else {
            return bad(e, param, "%s: role '%.32s' is not supported (system, user, assistant)", param, r);
        }
        mi++;
    }
    if (req->n_msgs == 0 || req->msgs[req->n_msgs - 1].assistant)
        return bad(e, "messages", "the last message must be a user message");
    return 0;
}

int mm_srv_parse_request(const char *body, size_t n, mm_srv_req *req, mm_srv_error *e) {
    memset(req, 0, sizeof *req);
    memset(e, 0, sizeof *e);
    req->gen = mmgpt_gen_default_params();
    cJSON *root = cJSON_ParseWithLength(body, n);
    if (!root) return bad(e, NULL, "the body is not valid JSON");
    int rc = -1;
    if (!cJSON_IsObject(root)) bad(e, NULL, "the body must be a JSON object");
    else if (!refuse(root, e) && !parse_sampling(root, req, e))
        rc = parse_messages(cJSON_GetObjectItemCaseSensitive(root, "messages"), req, e);
    cJSON_Delete(root);
    if (rc) mm_srv_req_free(req);
    return rc;
}

void mm_srv_req_free(mm_srv_req *req) {
    if (!req) return;
    for (int i = 0; i < req->n_msgs; i++) {
        for (int j = 0; j < req->msgs[i].n_parts; j++) {
            free(req->msgs[i].parts[j].text);
            free(req->msgs[i].parts[j].data);
        }
        free(req->msgs[i].parts);
    }
    free(req->msgs);
    free(req->system);
    for (int i = 0; i < req->n_stop; i++) free(req->stop[i]);
    memset(req, 0, sizeof *req);
}

/* server.h - `mmgpt serve`: the pieces of the OpenAI-compatible server that do not touch the network
 * (apps/server_api.c), so tests/server/test_server_api.c can test them alone, and the worker's interface
 * (apps/server.c holds the HTTP side, the slots and the worker loop).
 *
 * Request (POST /v1/chat/completions, OpenAI's shape) -> mm_srv_req:
 *   messages: [{"role": "system"|"user"|"assistant", "content": STRING | [PART...]}], at least one, the
 *     last a user message; system messages only before the first user message (joined by "\n": the
 *     system prompt; none = the model's default, as `mmgpt ask`). Between them user and assistant
 *     alternate (user, assistant, user, ...): earlier turns are replayed (mmgpt_eval_answer).
 *   PART: {"type": "text", "text": S} | {"type": "image_url", "image_url": {"url": "data:image/...;base64,B"}
 *     or "image_url": "data:..."} | {"type": "input_audio", "input_audio": {"data": B, "format":
 *     "wav"|"mp3"|"flac"|"ogg"}}. Parts keep their order: a media part becomes "<__media__>\n" in the
 *     user text (the media where it stands, followed by a newline as `mmgpt ask` puts it), text parts are
 *     literal text (a typed <__media__> is text), two text parts in a row joined by "\n". So [image, "Q"]
 *     is the text `mmgpt ask IMAGE Q` builds. Media only in user messages.
 *   temperature [0, 2] (default 0), top_p [0, 1] (0: the best token only), max_tokens >= 1 (alias max_completion_tokens; default
 *     the CLI's 128), seed (integer >= 0, or -1 for a random one), stop (string or array of up to 4 non-empty strings),
 *     repeat_penalty (> 0), presence_penalty / frequency_penalty [-2, 2], repeat_last_n >= -1, top_k,
 *     min_p [0, 1], ignore_eos (bool) (the names llama-server takes), stream (bool), stream_options
 *     ({"include_usage": bool}), model and user (accepted, not used). A field given as null is not given.
 *     n (only 1), logprobs / top_logprobs (only false/0), tools, tool_choice, functions, function_call,
 *     response_format, logit_bias, audio, modalities, prediction, parallel_tool_calls, web_search_options,
 *     reasoning_effort, verbosity: only null or a value that asks for nothing (tools / functions [],
 *     tool_choice / function_call "none", response_format {"type": "text"}, modalities ["text"],
 *     logit_bias {}: what SDKs and frameworks send), otherwise a 400 that names the field. Any other unknown
 *     field (store, metadata, service_tier, ...) is ignored. The official OpenAI SDK's requests are checked
 *     by tests/server/test_server_openai.py.
 * Errors are {status, message, param}: 400 with type "invalid_request_error"; as JSON (mm_srv_error_json)
 * OpenAI's {"error": {message, type, param, code}}, code a string or null as in OpenAI's API.
 */
#ifndef MM_SERVER_H
#define MM_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mmgpt.h"

/* ---------------------------------------------------------------- base64 (RFC 4648, standard alphabet) */
/* Decoded size bound for n input characters. */
size_t mm_b64_max_decoded(size_t n);
/* Decode src[0..n) into out (at least mm_b64_max_decoded(n) bytes). Padding '=' is optional at the
 * end; ASCII whitespace (space, \t, \r, \n) is skipped; any other character, data after padding, or a
 * length that leaves 1 dangling character is an error (-1). Returns the decoded size. */
long mm_b64_decode(const char *src, size_t n, unsigned char *out);

/* ---------------------------------------------------------------- parsed request */
typedef enum { MM_PART_TEXT, MM_PART_IMAGE, MM_PART_AUDIO } mm_srv_part_kind;

typedef struct {
    mm_srv_part_kind kind;
    char            *text;   /* MM_PART_TEXT: malloc'd, NUL-terminated */
    unsigned char   *data;   /* media: decoded bytes (malloc'd) */
    size_t           size;
} mm_srv_part;

typedef struct {
    bool         assistant;  /* else user */
    mm_srv_part *parts;      /* assistant: one text part */
    int          n_parts;
} mm_srv_msg;

typedef struct {
    char            *system;      /* NULL = the model's default */
    mm_srv_msg      *msgs;        /* user, assistant, user, ..., user */
    int              n_msgs;
    mmgpt_gen_params gen;
    char            *stop[4];
    int              n_stop;
    bool             stream;
    bool             include_usage;  /* stream_options.include_usage */
    size_t           media_bytes;    /* decoded media in the request */
    int              n_media;
} mm_srv_req;

typedef struct {
    int  status;      /* HTTP status */
    char param[64];   /* the offending field ("" = none) */
    char message[MMGPT_ERR_SIZE];
} mm_srv_error;

/* Parse a request body (n bytes, need not be NUL-terminated). 0, or -1 with e filled (400). */
int  mm_srv_parse_request(const char *body, size_t n, mm_srv_req *req, mm_srv_error *e);
void mm_srv_req_free(mm_srv_req *req);

/* {"error": {"message", "type", "param", "code"}} for status (type from the status: 400
 * invalid_request_error, 401 authentication_error, 404 not_found_error, 413 request_too_large, 503
 * server_busy, 500 server_error; code OpenAI's string where one fits - 401 "invalid_api_key", 404 with
 * param "model" "model_not_found" - else null: the SDKs type it string | null); malloc'd. */
char *mm_srv_error_json(int status, const char *message, const char *param);

#endif

/* test_server_api.c - apps/server_api.c alone: base64 against RFC 4648's test vectors (section 10) and
 * malformed inputs, and request parsing (content parts in order, system prompt, replayed turns, the
 * fields that are a 400 naming the field). The HTTP behaviour is tested by test_server.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#include "mm_check.h"

static void b64_ok(const char *in, const char *want) {
    unsigned char out[256];
    long          n = mm_b64_decode(in, strlen(in), out);
    CHECK(n == (long)strlen(want) && !memcmp(out, want, strlen(want)), "b64 '%s' -> %ld bytes", in, n);
}

static void b64_bad(const char *in) {
    unsigned char out[256];
    CHECK(mm_b64_decode(in, strlen(in), out) < 0, "b64 '%s' should be refused", in);
}

static int parse(const char *json, mm_srv_req *r, mm_srv_error *e) { return mm_srv_parse_request(json, strlen(json), r, e); }

static void refused(const char *json, const char *param) {
    mm_srv_req   r;
    mm_srv_error e;
    int          rc = parse(json, &r, &e);
    CHECK(rc == -1 && e.status == 400 && !strcmp(e.param, param), "%s: rc %d status %d param '%s' (want '%s'): %s", json,
          rc, e.status, e.param, param, e.message);
}

#define MSG "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

int main(void) {
    /* RFC 4648 section 10 */
    b64_ok("", "");
    b64_ok("Zg==", "f");
    b64_ok("Zm8=", "fo");
    b64_ok("Zm9v", "foo");
    b64_ok("Zm9vYg==", "foob");
    b64_ok("Zm9vYmE=", "fooba");
    b64_ok("Zm9vYmFy", "foobar");
    b64_ok("Zm9v\r\nYmFy", "foobar"); /* line breaks (MIME) are skipped */
    b64_ok("Zm9vYg", "foob");         /* padding optional */
    b64_ok("+/+/", "\xfb\xff\xbf");
    b64_bad("Zm9vY");     /* one dangling character */
    b64_bad("Zm9v!mFy");  /* not in the alphabet */
    b64_bad("Zg==Zg==");  /* data after padding */
    b64_bad("Zg===");     /* too much padding */
    b64_bad("Zm9v=");     /* padding that completes no quantum */
    b64_ok("Zm9=", "fo");
    CHECK(mm_b64_max_decoded(8) >= 6 && mm_b64_max_decoded(5) >= 3, "max_decoded");

    /* a request with everything */
    mm_srv_req   r;
    mm_srv_error e;
    const char  *full =
        "{\"model\":\"x\",\"temperature\":0.5,\"top_p\":0.9,\"max_tokens\":7,\"seed\":42,\"stop\":[\"a\",\"bc\"],"
        "\"repeat_penalty\":1.1,\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,\"stream\":true,\"n\":1,"
        "\"logprobs\":false,\"messages\":[{\"role\":\"system\",\"content\":\"S1\"},{\"role\":\"system\",\"content\":"
        "[{\"type\":\"text\",\"text\":\"S2\"}]},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"A\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,Zm9v\"}},{\"type\":\"text\",\"text\":"
        "\"B\"},{\"type\":\"text\",\"text\":\"C\"},{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"Zm9vYg==\","
        "\"format\":\"wav\"}}]},{\"role\":\"assistant\",\"content\":\"ans\"},{\"role\":\"user\",\"content\":\"Q\"}]}";
    CHECK(parse(full, &r, &e) == 0, "full request: %s", e.message);
    CHECK(r.system && !strcmp(r.system, "S1\nS2"), "system '%s'", r.system ? r.system : "(null)");
    CHECK(r.n_msgs == 3 && !r.msgs[0].assistant && r.msgs[1].assistant && !r.msgs[2].assistant, "roles");
    CHECK(r.msgs[0].n_parts == 5, "parts %d", r.msgs[0].n_parts);
    if (r.msgs[0].n_parts == 5) {
        CHECK(r.msgs[0].parts[0].kind == MM_PART_TEXT && !strcmp(r.msgs[0].parts[0].text, "A"), "part 0");
        CHECK(r.msgs[0].parts[1].kind == MM_PART_IMAGE && r.msgs[0].parts[1].size == 3 &&
                  !memcmp(r.msgs[0].parts[1].data, "foo", 3), "part 1");
        CHECK(r.msgs[0].parts[4].kind == MM_PART_AUDIO && r.msgs[0].parts[4].size == 4, "part 4");
    }
    CHECK(r.msgs[1].n_parts == 1 && !strcmp(r.msgs[1].parts[0].text, "ans"), "assistant text");
    CHECK(r.gen.temperature == 0.5f && r.gen.top_p == 0.9f && r.gen.max_tokens == 7 && r.gen.seed == 42, "sampling");
    CHECK(r.gen.repeat_penalty == 1.1f && r.gen.presence_penalty == 0.5f && r.gen.frequency_penalty == -0.5f, "penalties");
    CHECK(r.n_stop == 2 && r.gen.n_stop == 2 && !strcmp(r.gen.stop[1], "bc"), "stop");
    CHECK(r.stream && r.n_media == 2 && r.media_bytes == 7, "stream / media");
    mm_srv_req_free(&r);

    /* defaults: the CLI's */
    CHECK(parse("{" MSG "}", &r, &e) == 0, "minimal: %s", e.message);
    mmgpt_gen_params d = mmgpt_gen_default_params();
    CHECK(r.gen.temperature == 0 && r.gen.max_tokens == d.max_tokens && r.gen.top_p == d.top_p && !r.stream && !r.system,
          "defaults");
    mm_srv_req_free(&r);

    /* top_p 0 (the best token only, as llama.cpp) and seed -1 (a random seed per request, llama-server's convention) */
    CHECK(parse("{" MSG ",\"top_p\":0,\"seed\":-1}", &r, &e) == 0 && r.gen.top_p == 0.0f, "top_p 0, seed -1: %s", e.message);
    const uint64_t s1 = r.gen.seed;
    mm_srv_req_free(&r);
    CHECK(parse("{" MSG ",\"seed\":-1}", &r, &e) == 0 && r.gen.seed != s1 && r.gen.seed != d.seed, "seed -1 twice: %llx %llx",
          (unsigned long long)s1, (unsigned long long)r.gen.seed);
    mm_srv_req_free(&r);

    /* values of unsupported fields that ask for nothing (what SDKs and frameworks send): accepted */
    CHECK(parse("{" MSG ",\"tools\":[],\"functions\":[],\"tool_choice\":\"none\",\"response_format\":{\"type\":"
                "\"text\"},\"modalities\":[\"text\"],\"logit_bias\":{},\"n\":1,\"logprobs\":false,\"top_logprobs\":null,"
                "\"stop\":null,\"reasoning_effort\":null,\"web_search_options\":null,\"max_tokens\":null,\"max_completion_tokens\":null,\"stream_options\":null,\"user\":\"u\"}",
                &r, &e) == 0,
          "no-op values: %s", e.message);
    mm_srv_req_free(&r);
    CHECK(parse("{" MSG ",\"max_completion_tokens\":9,\"stream\":true,\"stream_options\":{\"include_usage\":true}}", &r,
                &e) == 0 && r.gen.max_tokens == 9 && r.include_usage,
          "max_completion_tokens, include_usage: %s", e.message);
    mm_srv_req_free(&r);

    /* refused, naming the field */
    refused("not json", "");
    refused("[1]", "");
    refused("{}", "messages");
    refused("{\"messages\":[]}", "messages");
    refused("{" MSG ",\"temperature\":2.5}", "temperature");
    refused("{" MSG ",\"temperature\":-1}", "temperature");
    refused("{" MSG ",\"top_p\":-0.5}", "top_p");
    refused("{" MSG ",\"top_p\":1.01}", "top_p");
    refused("{" MSG ",\"max_tokens\":0}", "max_tokens");
    refused("{" MSG ",\"max_tokens\":1.5}", "max_tokens");
    refused("{" MSG ",\"seed\":-2}", "seed");
    refused("{" MSG ",\"n\":2}", "n");
    refused("{" MSG ",\"logprobs\":true}", "logprobs");
    refused("{" MSG ",\"top_logprobs\":3}", "top_logprobs");
    refused("{" MSG ",\"tools\":[{\"type\":\"function\"}]}", "tools");
    refused("{" MSG ",\"tool_choice\":\"auto\"}", "tool_choice");
    refused("{" MSG ",\"response_format\":{\"type\":\"json_object\"}}", "response_format");
    refused("{" MSG ",\"response_format\":{\"type\":\"text\",\"json_schema\":{}}}", "response_format");
    refused("{" MSG ",\"modalities\":[\"text\",\"audio\"]}", "modalities");
    refused("{" MSG ",\"logit_bias\":{\"50256\":-100}}", "logit_bias");
    refused("{" MSG ",\"web_search_options\":{}}", "web_search_options");
    refused("{" MSG ",\"reasoning_effort\":\"low\"}", "reasoning_effort");
    refused("{" MSG ",\"stop\":[\"\"]}", "stop");
    refused("{" MSG ",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", "stop");
    refused("{" MSG ",\"stream\":1}", "stream");
    refused("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":\"b\"}]}", "messages");
    refused("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"b\"}]}", "messages[1]");
    refused("{\"messages\":[{\"role\":\"tool\",\"content\":\"a\"}]}", "messages[0]");
    refused("{\"messages\":[{\"role\":\"user\"}]}", "messages[0]");
    refused("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":\"b\"},"
            "{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":\"c\"}]}", "messages[2]");
    refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
            "\"https://example.com/a.png\"}}]}]}", "messages[0].content[0]");
    refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
            "\"data:image/png;base64,Zm9vY\"}}]}]}", "messages[0].content[0]");
    refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
            "\"data:image/png,rawbytes\"}}]}]}", "messages[0].content[0]");
    refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\",\"input_audio\":{\"data\":"
            "\"Zm9v\",\"format\":\"aac\"}}]}]}", "messages[0].content[0]");
    refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"video\"}]}]}", "messages[0].content[0]");
    refused("{\"messages\":[{\"role\":\"user\",\"content\":[]}]}", "messages[0].content");
    refused("{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}", "messages[0].content");

    /* error objects */
    char *j = mm_srv_error_json(413, "too big", NULL);
    CHECK(j && strstr(j, "\"type\":\"request_too_large\"") && strstr(j, "\"code\":null") && strstr(j, "\"param\":null"),
          "error json %s", j ? j : "(null)");
    free(j);
    j = mm_srv_error_json(401, "key", NULL); /* OpenAI's codes are strings (the SDK types: string | null) */
    CHECK(j && strstr(j, "\"code\":\"invalid_api_key\""), "401 code %s", j ? j : "(null)");
    free(j);
    j = mm_srv_error_json(404, "no such model", "model");
    CHECK(j && strstr(j, "\"code\":\"model_not_found\"") && strstr(j, "\"param\":\"model\""), "404 model %s", j ? j : "(null)");
    free(j);
    if (n_fail) fprintf(stderr, "%d checks failed\n", n_fail);
    else printf("server api: all checks passed\n");
    return n_fail ? 1 : 0;
}

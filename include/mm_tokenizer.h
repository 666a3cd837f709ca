/* mm_tokenizer.h - the tokenizers of GPT-2 and of llama.cpp GGUF files: byte-level BPE with the
 * pre-tokenizer the file names, and SentencePiece BPE; exact, fast, streaming decode.
 *
 * Kinds (tokenizer.ggml.model)
 *   "gpt2"   byte-level BPE (below), pre-tokenized as tokenizer.ggml.pre says:
 *              gpt-2 (also: gpt2 phi-2 mpt olmo jais roberta-bpe; and when the key is absent - llama.cpp
 *                     then uses "default" with a warning; mmgpt keeps GPT-2, as it always did)
 *              llama-bpe (llama3 llama-v3 falcon3; Llama 3): (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|
 *                     '[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 *                     \s*[\r\n]+|\s+(?!\S)|\s+ ; also "ignore merges" (a pre-token that is a token is that
 *                     token) and add_bos_token defaults to true. dbrx, smaug-bpe: the same pattern only.
 *              qwen2 (deepseek-r1-qwen megrez stablelm2): as llama-bpe with \p{N} (single digits)
 *              smollm (starcoder refact command-r codeshell exaone minerva-7b): every \p{N} character alone,
 *                     GPT-2's pattern on the text between
 *              default: [\p{P}\$\+<=>\^~\|]+ runs split off, then GPT-2's pattern, then \p{N}+, then
 *                     [0-9]{3} groups (llama.cpp's fallback list)
 *            any other name fails to load with an error naming it. Hand-written scanners, no regex engine.
 *   "llama"  SentencePiece BPE as llama.cpp's llm_tokenizer_spm: tokenizer.ggml.scores,
 *            tokenizer.ggml.token_type, "\xe2\x96\x81" (U+2581) for spaces, a prefix space in front of
 *            every text fragment when tokenizer.ggml.add_space_prefix (default true), the adjacent pair whose
 *            concatenation is a NORMAL token with the highest score merged first (leftmost on ties),
 *            characters left without a token become byte tokens <0xXX> (else the unknown token).
 *            Decoding: U+2581 -> space, <0xXX> -> the byte, user-defined tokens -> their text, control /
 *            unknown / unused tokens -> nothing. decode(encode(s)) == " " + s (prefix space) for text
 *            without U+2581 and without special tokens. add_bos_token defaults to true (bos 1, eos 2, unk 0
 *            unless the file names them).
 *   Token types (tokenizer.ggml.token_type): MM_TOKEN_NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4,
 *   UNUSED 5, BYTE 6.
 *
 * Byte-level BPE (GPT-2 and the "gpt2" kind)
 *   encode: text bytes -> token ids, exactly like OpenAI's GPT-2 encoder.py / tiktoken "gpt2":
 *     1. optional: split the text at special tokens (only when the caller allows them, see below);
 *     2. pre-tokenize each piece with GPT-2's pattern
 *          's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *        over full Unicode (utf8proc categories; \s = the Unicode White_Space property, which is what
 *        Python's `regex` module matches: Zs, Zl, Zp, U+0009..U+000D and U+0085);
 *     3. byte-level BPE of every pre-token: merges applied by rank (lowest first, leftmost on ties).
 *     Invalid UTF-8 (stray continuation bytes, overlongs, surrogates encoded as bytes, > U+10FFFF,
 *     truncated sequences) is accepted: each bad byte counts as one "other" character (the
 *     [^\s\p{L}\p{N}] class, like U+FFFD would) and still round-trips, because every byte has a token.
 *   decode: ids -> the exact bytes (decode(encode(s)) == s for every byte string s); the streaming
 *     decode gives valid UTF-8 for display (ill-formed bytes -> U+FFFD, see below).
 *
 * Special tokens
 *   Special tokens: GGUF token_type CONTROL (3) or USER_DEFINED (4) (and UNKNOWN (2) in "llama"),
 *   tokenizer.json added_tokens, and every entry byte-level BPE can never produce (neither a single byte
 *   nor the result of a merge, whatever its stated type) - in GPT-2 exactly one: `<|endoftext|>` (50256).
 *   encode() recognises them in the text ONLY when allow_special is true - template text, never user text
 *   (llama.cpp also matches user-defined tokens in user text; mmgpt does not) - leftmost match, longest on
 *   a tie (llama.cpp: longest special first); otherwise `<|endoftext|>` in user text is ordinary text
 *   (GPT-2: -> 1279 91 437 1659 5239 91 29). Byte-level BPE: decode() writes a special token as its text.
 *
 * End of generation
 *   mm_tokenizer_is_eog(): eos, the end-of-turn token (tokenizer.ggml.eot_token_id, else the first of
 *   <|eot_id|> <|im_end|> <|end|> <end_of_turn> <|endoftext|> <EOT> in the vocabulary), eom
 *   (eom_token_id or <|eom_id|>), the fill-in-the-middle pad / repo / file-separator tokens
 *   (fim_*_token_id or their usual texts), and every token whose text is one of <|eot_id|> <|im_end|>
 *   <|end|> <end_of_turn> <|endoftext|> <|eom_id|> <EOT> _<EOT> <end_of_utterance> and DeepSeek's
 *   end of sentence, as llama.cpp gathers them; also </s> when it is a special token.
 *
 * Media marker
 *   `<__media__>` is NOT a GPT-2 token. fusion/ splits the prompt at the marker and tokenizes the text
 *   around it; encode() of text that contains `<__media__>` treats it as plain text (a few ordinary ids),
 *   whatever allow_special says.
 *
 * Vocabulary sources (all give the same tokenizer for GPT-2)
 *   - GGUF: tokenizer.ggml.model = "gpt2", tokenizer.ggml.tokens (strings), tokenizer.ggml.merges
 *     (strings "a b"), optional tokenizer.ggml.token_type (i32), tokenizer.ggml.bos_token_id,
 *     tokenizer.ggml.eos_token_id, tokenizer.ggml.add_bos_token, tokenizer.ggml.pre (above);
 *     model "llama": tokens, scores (f32), token_type, bos/eos/unknown_token_id, add_bos_token,
 *     add_eos_token, add_space_prefix. Both: eot/eom/fim_pad/fim_rep/fim_sep_token_id.
 *   - Hugging Face: vocab.json + merges.txt, or tokenizer.json (model.vocab, model.merges, added_tokens).
 *   - OpenAI: encoder.json + vocab.bpe.
 *   Token strings in all of them use GPT-2's byte-to-unicode alphabet ("Ġ" = space, ...).
 *   bos/eos default to `<|endoftext|>` when the source does not name them (GPT-2 uses it for both).
 *
 * Cost: ~O(n) pre-tokenization; a pre-token that is itself a token is one hash lookup; other words run
 * BPE (flat arrays up to 64 bytes, a heap up to 4 KiB, a bucket queue beyond: no quadratic case, no
 * recursion, a 10 MB word without spaces takes seconds). Loading builds hash maps (~0.1-0.2 s for GPT-2).
 * SentencePiece: O(n log n) per part of text that NORMAL tokens can join (cut where two neighbouring
 * characters stand side by side in no token - before most spaces), memory for one part.
 * Threads: a loaded mm_tokenizer is read-only; encode/decode may run on many threads at once.
 * A mm_tokenizer_stream belongs to one thread. Errors follow mm_core.h (0 / -1 + err, or NULL + err).
 */
#ifndef MM_TOKENIZER_H
#define MM_TOKENIZER_H

#include "mm_core.h"
#include "mm_gguf.h"

#ifdef __cplusplus
extern "C" {
#endif
MM_API_BEGIN  /* every declaration below is exported from libmmgpt.so (mm_api.h) */

typedef struct mm_tokenizer mm_tokenizer;

/* ---------------------------------------------------------------- loading */
/* From a GGUF handle (keys above). The tokenizer copies what it needs: g may be closed afterwards. */
mm_tokenizer *mm_tokenizer_load_gguf(const mm_gguf *g, char *err);
/* Detect and load: a directory holding tokenizer.json, or vocab.json + merges.txt, or
 * encoder.json + vocab.bpe (tried in that order); or a path to a .gguf file or to a tokenizer.json. */
mm_tokenizer *mm_tokenizer_load_dir(const char *path, char *err);
/* Explicit loaders. */
mm_tokenizer *mm_tokenizer_load_hf(const char *vocab_json, const char *merges_txt, char *err);
mm_tokenizer *mm_tokenizer_load_hf_json(const char *tokenizer_json, char *err);
mm_tokenizer *mm_tokenizer_load_openai(const char *encoder_json, const char *vocab_bpe, char *err);
void          mm_tokenizer_free(mm_tokenizer *t);

/* Write tokenizer.ggml.* into a GGUF writer, so tools and tests can build model files: model "gpt2",
 * pre (its canonical name), tokens, merges, token_type, bos/eos ids, add_bos_token; or model "llama",
 * tokens, scores, token_type, bos/eos/unk/eot/eom ids, add_bos/add_eos_token, add_space_prefix. */
int mm_tokenizer_write_gguf(const mm_tokenizer *t, mm_gguf_writer *w, char *err);

/* ---------------------------------------------------------------- vocabulary */
int32_t mm_tokenizer_n_vocab(const mm_tokenizer *t);   /* 50257 for GPT-2 */
int32_t mm_tokenizer_bos(const mm_tokenizer *t);       /* -1 if none */
int32_t mm_tokenizer_eos(const mm_tokenizer *t);       /* -1 if none */
bool    mm_tokenizer_add_bos(const mm_tokenizer *t);   /* tokenizer.ggml.add_bos_token (false for GPT-2) */
bool    mm_tokenizer_add_eos(const mm_tokenizer *t);   /* tokenizer.ggml.add_eos_token (false unless set) */
/* encode() puts U+2581 in front of every text fragment ("llama" kind with add_space_prefix) */
bool    mm_tokenizer_add_space_prefix(const mm_tokenizer *t);
int32_t mm_tokenizer_eot(const mm_tokenizer *t);       /* end-of-turn token, -1 if none */
/* End of generation (see above); the set as ascending ids (pointer owned by t), returns the count. */
bool    mm_tokenizer_is_eog(const mm_tokenizer *t, int32_t id);
int32_t mm_tokenizer_eog_ids(const mm_tokenizer *t, const int32_t **ids);
/* "gpt2" or "llama"; the pre-tokenizer's canonical name ("gpt-2", "llama-bpe", "qwen2", "smollm",
 * "default"; NULL for "llama") */
const char *mm_tokenizer_model(const mm_tokenizer *t);
const char *mm_tokenizer_pre(const mm_tokenizer *t);
enum { MM_TOKEN_NORMAL = 1, MM_TOKEN_UNKNOWN = 2, MM_TOKEN_CONTROL = 3, MM_TOKEN_USER_DEFINED = 4,
       MM_TOKEN_UNUSED = 5, MM_TOKEN_BYTE = 6 };
int     mm_tokenizer_token_type(const mm_tokenizer *t, int32_t id); /* MM_TOKEN_*, 0 if out of range */
/* Id of a special token by its exact text (e.g. "<|endoftext|>"), -1 if no special token has it. */
int32_t mm_tokenizer_special_id(const mm_tokenizer *t, const char *text);
bool    mm_tokenizer_is_special(const mm_tokenizer *t, int32_t id);
/* Id of the (non-special) token whose bytes are exactly piece[0..len), -1 if none. */
int32_t mm_tokenizer_token_id(const mm_tokenizer *t, const char *piece, size_t len);
/* Bytes of a token (what decode writes for it), NUL-terminated copy owned by t; NULL if id is out of
 * range. *len (may be NULL) receives the byte count (a piece may contain NUL bytes). Empty for the
 * control / unknown / unused tokens of a "llama" vocabulary: their text is mm_tokenizer_token_text. */
const char *mm_tokenizer_piece(const mm_tokenizer *t, int32_t id, size_t *len);
/* The vocabulary string of a token as stored (byte-to-unicode form, e.g. "Ġworld"; "llama": "▁world");
 * a special token's text (what allow_special matches); NULL if out of range. */
const char *mm_tokenizer_token_text(const mm_tokenizer *t, int32_t id);

/* ---------------------------------------------------------------- encode */
/* Encode text[0..len) (any bytes; NUL bytes too). Writes at most max_ids ids into ids (ids may be NULL
 * when max_ids == 0) and returns how many ids the whole text needs: when the result > max_ids, the output
 * was truncated - grow the buffer and call again. -1 (+ err) only when out of memory. */
int64_t mm_tokenizer_encode(const mm_tokenizer *t, const char *text, size_t len, bool allow_special,
                            int32_t *ids, int64_t max_ids, char *err);
/* Same into a malloc'd array (*ids; caller frees; non-NULL even for 0 ids); *n_ids = count. */
int mm_tokenizer_encode_alloc(const mm_tokenizer *t, const char *text, size_t len, bool allow_special,
                              int32_t **ids, int64_t *n_ids, char *err);

/* ---------------------------------------------------------------- decode */
/* Decode ids into out[0..out_size). Returns the number of bytes the full text needs (without NUL):
 * when that is < out_size a NUL follows; when it is >= out_size the output was truncated.
 * -1 (+ err) if an id is out of range. */
int64_t mm_tokenizer_decode(const mm_tokenizer *t, const int32_t *ids, int64_t n_ids,
                            char *out, size_t out_size, char *err);
/* Same into a malloc'd NUL-terminated buffer (*out; caller frees); *len = bytes without the NUL. */
int mm_tokenizer_decode_alloc(const mm_tokenizer *t, const int32_t *ids, int64_t n_ids,
                              char **out, size_t *len, char *err);

/* ---------------------------------------------------------------- streaming decode */
/* Feed ids one at a time (e.g. while sampling); get back the text that is safe to show now. The output
 * is always well-formed UTF-8 - the one place where generated tokens become displayed text, so every
 * command and the library's callbacks get valid UTF-8 (and valid JSON) whatever the model samples:
 * bytes that start a character which is not complete yet are held back until a later token completes
 * it; bytes that can never become a character (e.g. 0xFF, a lead byte followed by a non-continuation
 * byte, an overlong or surrogate form) become U+FFFD, one per maximal subpart (mm_core.h, "UTF-8"), and
 * a character still incomplete at the flush becomes one U+FFFD; so does a NUL byte (U+0000), so that
 * text handed out as a C string (mmgpt_last_text) is all of it. The concatenation of all outputs plus
 * the final flush is mm_utf8_sanitize(mm_tokenizer_decode(all ids)): byte for byte the decoded text when
 * that is valid UTF-8 without NUL, else what Python's bytes.decode("utf-8", "replace") gives with U+0000
 * replaced too. */
typedef struct mm_tokenizer_stream mm_tokenizer_stream;
mm_tokenizer_stream *mm_tokenizer_stream_create(const mm_tokenizer *t, char *err);
void mm_tokenizer_stream_free(mm_tokenizer_stream *s);
void mm_tokenizer_stream_reset(mm_tokenizer_stream *s);  /* drop held bytes, start over */
/* Append token id (never allocates: buffers are sized for the longest token at creation). *out / *len
 * receive the bytes ready now (possibly 0 of them); the pointer stays valid
 * until the next call on s. -1 (+ err) if id is out of range (nothing changes then). */
int mm_tokenizer_stream_push(mm_tokenizer_stream *s, int32_t id, const char **out, size_t *len, char *err);
/* End of stream: returns the held bytes (an incomplete character at the very end), then resets. */
void mm_tokenizer_stream_flush(mm_tokenizer_stream *s, const char **out, size_t *len);
/* Number of bytes currently held back (0..3). */
size_t mm_tokenizer_stream_pending(const mm_tokenizer_stream *s);

MM_API_END

#ifdef __cplusplus
}
#endif
#endif /* MM_TOKENIZER_H */

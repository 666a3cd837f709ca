/* conversation.h - one conversation over one decoder KV cache (internal to the library: fusion/mmgpt.c,
 * the product API of include/mmgpt.h, is the glue over it; tests/fusion/test_conversation.c tests it).
 *
 * What a conversation owns
 *   - The cache record: what each position [0, n_past) of the decoder's KV cache holds, as an identity
 *     (mm_conv_pos): a token id, or a media row = (content hash of the media item, row index in it).
 *     The keys/values of a position depend only on the inputs at it and before it, so a new sequence
 *     whose first k identities equal the record's first k can keep those k positions: the prefix cache.
 *     Media are known by a 128-bit hash of their embedding rows (mm_conv_hash_rows), never by a
 *     per-process serial: the same picture encoded twice matches, a different picture with the same
 *     row count does not.
 *   - The conversation: whether the next turn starts a new conversation (after mm_conv_clear: at
 *     position 0, system prompt first, the record kept as a prefix cache) or continues after the
 *     previous answer; the tokens that close the previous answer in the cache before the next turn
 *     (the carry: the last sampled token, which was never evaluated, then the template's answer_close
 *     as tokens - the end-of-text token for the mmgpt template, e.g. <|im_end|> "\n" for ChatML; a
 *     sampled token equal to the close's first token is that token, another end token such as eos is
 *     replaced by the close); the system prompt.
 *   - The pending turn: an ordered list of parts - prompt text (its <__media__> markers are media slots,
 *     as mm_fusion.h documents), literal text (free text from a user: a marker or `<|endoftext|>` in it
 *     is ordinary text) and media items - assembled with the model's template (mm_prompt_build_parts)
 *     and tokenized when the turn is evaluated: text segments by the caller's tokenize function (plain
 *     text), the special tokens of the template text (MM_SEG_SPECIAL) as their ids.
 *
 * Positions of a turn
 *   A turn becomes a sequence (mm_conv_seq): [carry] [BOS at a conversation start, unless the template
 *   text starts with that token itself] then the template's text and special segments as tokens and
 *   each media item as its rows, in the order mm_prompt_build_turn gives (start = a new conversation).
 *   A raw turn (no template) at a conversation start is [BOS] [the lead token] [the system prompt, when
 *   one was set with mm_conv_set_system, tokenized as plain text on its own] then the turn's text and
 *   media. The lead token (mm_conv_add_lead_token) is one token in front of the turn's text, raw or
 *   not, left out when the turn's BOS is that token: the start of unconditioned text (GPT-2 begins it
 *   after <|endoftext|>).
 *   A model whose chat template is not recognised (tpl->chat_name NULL) refuses templated turns with
 *   MMGPT_ERR_MODEL and tpl->chat_error; raw turns work.
 *   A sequence may interleave tokens and media rows freely, and one media item may be placed as several
 *   row ranges (mm_conv_seq_push_rows takes [row0, row0 + n)), each row keeping its index in the item:
 *   a tiled picture (rows of tile 1, marker tokens, rows of tile 2, ...) or a long clip cut into 30 s
 *   windows is one item with one hash, and its identities stay (hash, row) whatever sits between them.
 *
 * Prefix matching (mm_conv_eval_turn, mm_conv_replay_turn)
 *   Continuing: the turn is appended after n_past. New conversation (after clear): the longest prefix
 *   of the turn equal to the record is kept (the cache is truncated to it) and only the rest is
 *   evaluated; when the whole turn is in the cache (the same question again) its last position is
 *   evaluated again anyway, since generation needs its logits. Over turns: a replayed turn
 *   (mm_conv_replay_turn: an earlier user turn or answer sent again) found whole is not evaluated and
 *   the next turn is matched where it ended, so turn 1 + answer 1 + turn 2 finds turn 1 and the answer
 *   the model generated (the same tokens) in the cache and evaluates from the close of the answer on. When every position's logits are asked
 *   for, nothing is reused. The turn must fit: kept + new positions + need_room <= n_ctx, else
 *   MMGPT_ERR_CONTEXT with the turn's position count and the context size, before anything changes.
 *
 * Bookkeeping only
 *   With params.st == NULL the conversation keeps the record without a decoder (n_ctx from the
 *   params): eval_turn / eval_token then record what would be evaluated. Tests check the rules this
 *   way against hand-computed positions.
 *
 * Statuses are mmgpt_status values (mmgpt.h) with a one-line message in err (MM_ERR_SIZE bytes).
 * A conversation is used by one thread at a time.
 */
#ifndef MM_CONVERSATION_H
#define MM_CONVERSATION_H

#include <stdbool.h>
#include <stdint.h>

#include "mm_fusion.h"
#include "mm_transformer.h"
#include "mmgpt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 128-bit content hash (not cryptographic: media rows are computed by the encoders, not chosen). */
typedef struct {
    uint64_t lo, hi;
} mm_conv_hash;

/* Hash of n bytes (any alignment). */
mm_conv_hash mm_conv_hash_bytes(const void *data, size_t n);
/* Hash of a media item's rows [n_rows][d] (the shape is part of it). */
mm_conv_hash mm_conv_hash_rows(const float *rows, int64_t n_rows, int64_t d);

/* One step of a media item's layout: token >= 0 is that token (a tile marker such as SmolVLM's
 * <row_1_col_2>), else the item's next n_rows rows. */
typedef struct {
    int32_t token;
    int32_t n_rows;
} mm_conv_piece;

/* A media item as the conversation sees it (rows and layout borrowed). */
typedef struct {
    mmgpt_media_kind kind;   /* chooses the template's begin/end wrappers */
    int64_t       n_rows; /* decoder positions */
    int64_t       d;      /* row width = d_model */
    const float  *rows;   /* [n_rows][d] */
    mm_conv_hash  hash;   /* mm_conv_hash_rows(rows, n_rows, d) */
    const mm_conv_piece *layout; /* [n_layout] tokens and row runs in order (their rows add up to n_rows);
                                    NULL = the rows alone, in order */
    int           n_layout;
} mm_conv_media;

/* What one position holds. */
typedef struct {
    int32_t      token;  /* token id, or -1 at a media row */
    int64_t      row;    /* media row: its index in the media item; 0 for tokens */
    mm_conv_hash media;  /* media row: the item's content hash; {0, 0} for tokens */
} mm_conv_pos;

/* Equal identities (the prefix-cache test). */
bool mm_conv_pos_equal(const mm_conv_pos *a, const mm_conv_pos *b);

/* A sequence of positions with the decoder's inputs. */
typedef struct {
    mm_conv_pos  *pos;          /* [n] */
    mm_gpt_input *in;           /* [n] token, or the media row's embedding (borrowed) */
    int64_t       n, cap;
    int64_t       n_media_rows; /* of the n positions */
} mm_conv_seq;

int  mm_conv_seq_push_token(mm_conv_seq *s, int32_t token);
/* Rows [row0, row0 + n) of md (0 <= row0, row0 + n <= md->n_rows). */
int  mm_conv_seq_push_rows(mm_conv_seq *s, const mm_conv_media *md, int64_t row0, int64_t n);
void mm_conv_seq_free(mm_conv_seq *s);

/* Tokenize text[0..len) as plain text (special-token text is ordinary text) into a malloc'd *ids[*n];
 * 0, or -1 with err. */
typedef int (*mm_conv_tokenize_fn)(void *user, const char *text, size_t len, int32_t **ids, int64_t *n,
                                   char *err);

typedef struct {
    mm_gpt_state             *st;        /* the decoder state whose KV cache this records (borrowed);
                                            NULL = bookkeeping only */
    int64_t                   n_ctx;     /* positions, when st == NULL (else the state's) */
    const mm_prompt_template *tpl;       /* borrowed */
    mm_conv_tokenize_fn       tokenize;
    void                     *tok_user;
    int32_t                   bos;       /* added at the start of a conversation; -1 = none */
    int32_t                   eos;       /* closes each answer in the cache; -1 = none */
} mm_conv_params;

typedef struct mm_conv mm_conv;

mm_conv *mm_conv_create(const mm_conv_params *p, char *err);
void     mm_conv_free(mm_conv *c);

int64_t            mm_conv_n_ctx(const mm_conv *c);
int64_t            mm_conv_n_past(const mm_conv *c);         /* positions recorded (= the state's n_past) */
const mm_conv_pos *mm_conv_cached(const mm_conv *c);         /* [n_past] the record */

/* System prompt of the next conversation (copied; plain text): NULL = the template's default, "" = none. */
int  mm_conv_set_system(mm_conv *c, const char *system, char *err);
/* Forget the conversation and the pending turn; the record stays as a prefix cache. */
void mm_conv_clear(mm_conv *c);
/* clear + empty the record (and the state's KV cache). */
void mm_conv_reset(mm_conv *c);

/* ---------------------------------------------------------------- the pending turn */
/* Text (copied); literal: its markers are ordinary text. NULL adds nothing. */
int  mm_conv_add_text(mm_conv *c, const char *text, bool literal, char *err);
/* A media item (the struct is copied, its rows borrowed). owner != NULL: release(owner) is called when
 * the turn is dropped (evaluated, cleared, freed), also when this call fails. */
int  mm_conv_add_media(mm_conv *c, const mm_conv_media *md, void *owner, void (*release)(void *), char *err);
void mm_conv_drop_pending(mm_conv *c);
/* fn(user) between two pieces of a turn's evaluation: a turn of more than the state's n_batch positions is
 * evaluated n_batch positions at a time (the pieces mm_gpt_eval takes anyway: the same cache and logits)
 * with fn called between them (mmgpt serve steps its other slots there). NULL: one evaluation. */
void mm_conv_set_between(mm_conv *c, void (*fn)(void *user), void *user);
/* One token in front of the pending turn's text (see "Positions of a turn"); dropped with the turn. */
int  mm_conv_add_lead_token(mm_conv *c, int32_t token, char *err);

/* The positions the pending turn takes (carry and BOS included), without evaluating it. */
int  mm_conv_build(const mm_conv *c, bool raw, mm_conv_seq *out, char *err);

/* ---------------------------------------------------------------- evaluation */
typedef struct {
    int64_t n_pos;        /* positions of the turn (carry + BOS + template + text + media rows) */
    int64_t n_cached;     /* of those, found in the cache (not evaluated again) */
    int64_t n_media_rows; /* of those, media rows */
    double  eval_ms;      /* decoder time */
} mm_conv_turn_info;

/* Evaluate the pending turn (see the top comment). need_room: positions that must stay free after it
 * (1 to generate). logits_all (may be NULL): *logits_all receives a malloc'd [n_pos][n_vocab] array
 * (then every position is evaluated). info may be NULL. On success the pending turn is consumed; on
 * failure it stays (the caller drops it) and the record and the cache agree. */
int  mm_conv_eval_turn(mm_conv *c, bool raw, int64_t need_room, float **logits_all, mm_conv_turn_info *info,
                       char *err);
/* mm_conv_eval_turn for a turn whose logits are for generation (no logits_all): when exactly one position is
 * left to evaluate and it is a token (the rest found in the prefix cache, or a one-token turn), it is not
 * evaluated but left to the caller (deferred): mm_conv_deferred gives its token; the caller evaluates it
 * at n_past (mmgpt_generate_next_many: in a batched step with other conversations' tokens, the same one-position
 * evaluation bit for bit) and records it with mm_conv_deferred_record. Until then every other evaluation
 * of this conversation fails (MMGPT_ERR_INTERNAL); clear / reset drop it (mm_conv_deferred_drop too). */
int  mm_conv_eval_turn_defer(mm_conv *c, bool raw, int64_t need_room, mm_conv_turn_info *info, char *err);
bool mm_conv_deferred(const mm_conv *c, int32_t *token);
void mm_conv_deferred_record(mm_conv *c);
void mm_conv_deferred_drop(mm_conv *c);
/* This conversation's record becomes src's first n positions, then it is cleared (mm_conv_clear): a prefix
 * cache copied from another conversation. The caller has made the state's KV cache hold exactly those n
 * positions (mm_gpt_state_copy_prefix from src's state); MMGPT_ERR_USAGE when n is out of range or a
 * deferred position is pending in either. */
int  mm_conv_adopt_record(mm_conv *c, const mm_conv *src, int64_t n, char *err);
/* A turn of a conversation replayed from its messages (chat APIs send the whole conversation each time:
 * earlier user turns and the model's answers), whose last position's logits nobody needs: as
 * mm_conv_eval_turn, except that while the conversation since clear still equals the record (the
 * replay: every earlier turn found whole in it), a turn found whole is not evaluated at all - it counts as
 * cached and matching goes on with the next turn, so the whole previous conversation is reused, not only
 * its first turn. The first turn that differs ends the replay: the record and the cache are cut where it
 * differs and the rest is evaluated. mm_conv_n_past still counts the record until then. */
int  mm_conv_replay_turn(mm_conv *c, bool raw, int64_t need_room, mm_conv_turn_info *info, char *err);
/* Evaluate one generated token after the record and record it (after replayed turns found whole, the
 * record is cut to them first). */
int  mm_conv_eval_token(mm_conv *c, int32_t token, char *err);
/* The two halves of mm_conv_eval_token around an evaluation the caller makes itself (a batched decode step
 * of several conversations: mmgpt_generate_next_many): check that one more token fits and the cache agrees
 * with the record (after replayed turns found whole, this cuts the record and the state to them, as
 * mm_conv_eval_token does); record a token the caller has evaluated in the conversation's state. */
int  mm_conv_token_check(mm_conv *c, char *err);
void mm_conv_token_record(mm_conv *c, int32_t token);
/* The answer ended; last: the sampled token that was not evaluated (an end token when the model ended
 * it). The next turn first closes the answer in the cache with the carry (top comment): the close alone
 * if last is its first token or eos, else last then the close; nothing when the cache is full (unless
 * last is the close's first token). For the mmgpt template: eos alone if last == eos, else last, eos. */
void mm_conv_end_answer(mm_conv *c, int32_t last);

#ifdef __cplusplus
}
#endif
#endif /* MM_CONVERSATION_H */

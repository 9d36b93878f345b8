// json_tok.h: walking jsmn's token array, shared by the request decoders (json_in.c, kserve.c).
// Include after <jsmn.h> (each decoder includes it with its own JSMN_* settings).
#ifndef TFT_SERVER_JSON_TOK_H
#define TFT_SERVER_JSON_TOK_H

// index just past the subtree of token i (tokens are in document order; a child starts before its
// parent ends)
static inline int tft_tok_skip(const jsmntok_t *t, int nt, int i) {
    int j = i + 1;
    while (j < nt && t[j].start < t[i].end) j++;
    return j;
}

// what a value is, for messages ("... must be an array, got a string")
static inline const char *tft_tok_type_name(const jsmntok_t *t, const char *body) {
    switch (t->type) {
    case JSMN_OBJECT: return "an object";
    case JSMN_ARRAY: return "an array";
    case JSMN_STRING: return "a string";
    default: break;
    }
    char c = body[t->start];
    return c == 't' || c == 'f' ? "a boolean" : c == 'n' ? "null" : "a number";
}
#endif

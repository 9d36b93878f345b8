// errmap.h: the one table from the engine's structured errors (tft.h: tft_error, its detail code) to
// the server's answers: an HTTP status and the error code string of server/API.md. The routes (the
// I/O thread's checks), the batcher (errors found while computing) and the KServe codec all answer
// engine errors through it, so one engine error always gets one answer, and nothing parses messages.
#ifndef TFT_SERVER_ERRMAP_H
#define TFT_SERVER_ERRMAP_H
#include "../engine/tft.h"

// The HTTP status (422 for what is wrong with the input, 413 for too many series, 500 for a
// non-finite forecast or anything the client did not cause) and *code ("history_too_short", ...;
// static) for e. e->code decides; e->status is not consulted.
int srv_error_http(const tft_error *e, const char **code);
#endif

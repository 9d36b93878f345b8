// test_cli.c: the `tft` command line, run as a user runs it. --help everywhere exits 0; bad usage
// exits 2; bad input exits 1 with exactly one line on stderr naming the problem; the three output
// formats of predict carry the forecast.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "../loader/loader.h"
#include "../ops/isa.h"

#ifndef TFT_BUILD_DIR
#define TFT_BUILD_DIR "build/cpu"
#endif
#define TFT TFT_BUILD_DIR "/tft"
#define MODEL "weights/goldens/group_softplus/model.safetensors"

static char out_path[64] = "/tmp/tft_cli_out_XXXXXX", err_path[64] = "/tmp/tft_cli_err_XXXXXX";
static char req_path[64] = "/tmp/tft_cli_req_XXXXXX";
static char *request; // the fixture's request JSON

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    s[fread(s, 1, (size_t)n, f)] = 0;
    fclose(f);
    return s;
}

// Runs `tft <args>`; returns the exit code, stdout and stderr in *out / *err (malloc'd).
static int run(const char *args, char **out, char **err) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s", TFT, args, out_path, err_path);
    int rc = system(cmd);
    *out   = slurp(out_path);
    *err   = slurp(err_path);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void write_request(const char *json) {
    FILE *f = fopen(req_path, "wb");
    fputs(json, f);
    fclose(f);
}

// The fixture request with the first `from` replaced by `to`.
static void write_request_with(const char *from, const char *to) {
    const char *at = strstr(request, from);
    if (!at) fail_msg("request has no '%s'", from);
    size_t pre = (size_t)(at - request);
    char  *s   = malloc(strlen(request) + strlen(to) + 1);
    memcpy(s, request, pre);
    strcpy(s + pre, to);
    strcat(s, at + strlen(from));
    write_request(s);
    free(s);
}

static void expect_error(const char *args, int code, const char *msg) {
    char *out, *err;
    int   rc = run(args, &out, &err);
    if (rc != code) fail_msg("tft %s: exit %d, expected %d (stderr: %s)", args, rc, code, err);
    if (lines(err) != 1) fail_msg("tft %s: stderr should be one line, got: %s", args, err);
    if (!strstr(err, "tft: error: ") || !strstr(err, msg))
        fail_msg("tft %s: stderr '%s' does not mention '%s'", args, err, msg);
    free(out), free(err);
}

static int setup(void **state) {
    (void)state;
    if (mkstemp(out_path) < 0 || mkstemp(err_path) < 0 || mkstemp(req_path) < 0) return -1;
    tft_ld_file *f;
    tft_ld_error e;
    if (tft_ld_open("weights/goldens/group_softplus/fixture.safetensors", &f, &e) != TFT_OK) return -1;
    request = strdup(tft_ld_metadata(f, "request"));
    tft_ld_close(f);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    remove(out_path), remove(err_path), remove(req_path);
    free(request);
    return 0;
}

static void test_help(void **state) {
    (void)state;
    const char *cmds[] = {"--help", "info --help", "predict --help", "help"};
    for (int i = 0; i < 4; i++) {
        char *out, *err;
        assert_int_equal(run(cmds[i], &out, &err), 0);
        assert_non_null(strstr(out, "usage: tft"));
        free(out), free(err);
    }
    char *out, *err;
    assert_int_equal(run("", &out, &err), 2); // no command: usage on stderr
    assert_non_null(strstr(err, "usage: tft"));
    free(out), free(err);
    assert_int_equal(run("version", &out, &err), 0);
    assert_non_null(strstr(out, "tft 0."));
    free(out), free(err);
}

static void test_usage_errors(void **state) {
    (void)state;
    expect_error("frobnicate", 2, "unknown command 'frobnicate'");
    expect_error("predict " MODEL " req.json --format xml", 2, "--format must be table, json or csv");
    expect_error("predict " MODEL " req.json --bogus", 2, "unknown option '--bogus'");
    expect_error("predict " MODEL " req.json --max-batch 0", 2, "--max-batch must be");
    char *out, *err;
    assert_int_equal(run("predict " MODEL, &out, &err), 2);
    assert_non_null(strstr(err, "usage: tft predict"));
    free(out), free(err);
}

static void test_info(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(run("info " MODEL, &out, &err), 0);
    assert_non_null(strstr(out, "parameters       23874"));
    assert_non_null(strstr(out, "static           series (label), region (label), capacity"));
    free(out), free(err);
    expect_error("info /nonexistent/model.safetensors", 1, "/nonexistent/model.safetensors");
    expect_error("info weights/goldens/group_softplus/fixture.safetensors", 1, "not a tft weights file");
    expect_error("info README.md", 1, "README.md: not a safetensors file: it starts with the text \"# tft: n\"");
    expect_error("info " MODEL " --bogus", 2, "unknown option '--bogus'");
}

// Each categorical's labels with the index they encode to (what a v2 client puts in encoder_cat):
// the first few by default, every one with --all-labels; the add_nan rule; a lagged column points
// to its variable's labels.
static void test_info_labels(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(run("info " MODEL, &out, &err), 0);
    assert_non_null(strstr(out, "  [0] series: 13 labels (a label the model never saw is encoded as 0, \"nan\")\n"
                                "    \"nan\"=0, \"s00\"=1, \"s01\"=2, \"s02\"=3, \"s03\"=4, \"s04\"=5, ... (7 more; "
                                "--all-labels lists them)\n"));
    assert_non_null(strstr(out, "  [1] region: 3 labels (a label the model never saw is refused)\n"
                                "    \"east\"=0, \"north\"=1, \"south\"=2\n"));
    assert_null(strstr(out, "\"s11\"=12"));
    free(out), free(err);
    assert_int_equal(run("info --all-labels " MODEL, &out, &err), 0);
    assert_non_null(strstr(out, "\"s08\"=9,\n    \"s09\"=10, \"s10\"=11, \"s11\"=12\n"));
    assert_null(strstr(out, "more; --all-labels"));
    free(out), free(err);
    assert_int_equal(run("info weights/goldens/lags/model.safetensors", &out, &err), 0);
    assert_non_null(strstr(out, "  [2] dow_lagged_by_1: 7 labels, those of [1] dow\n"));
    free(out), free(err);
}

// A model with lags needs min_encoder_length + max_lag history rows, and max_encoder_length +
// max_lag for the full encoder (the lagged variables read rows before the encoder window).
static void test_info_lags(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(run("info weights/goldens/lags/model.safetensors", &out, &err), 0);
    assert_non_null(strstr(out, "history          24 steps used by the encoder (at least 15 rows required: "
                                "min_encoder_length 8 + max_lag 7)\n"));
    assert_non_null(strstr(out, "31 history rows give the full encoder of 24 steps"));
    free(out), free(err);
    assert_int_equal(run("info " MODEL, &out, &err), 0); // no lags: the plain line
    assert_non_null(strstr(out, "history          24 steps used (at least 6 required)\n"));
    free(out), free(err);
}

static void test_predict_formats(void **state) {
    (void)state;
    write_request(request);
    char args[256], *out, *err;
    snprintf(args, sizeof args, "predict %s %s", MODEL, req_path);
    assert_int_equal(run(args, &out, &err), 0);
    assert_non_null(strstr(out, "series s00, target y (history used: 24 steps)"));
    // the model is named as tft-server names it; levels print as in every other output
    assert_non_null(strstr(out, "model model (sha256 "));
    assert_non_null(strstr(out, "  step       q0.02        q0.1"));
    free(out), free(err);
    snprintf(args, sizeof args, "predict %s %s --format csv", MODEL, req_path);
    assert_int_equal(run(args, &out, &err), 0);
    assert_non_null(strstr(out, "series,target,step,q0.02,q0.1,q0.25,q0.5,q0.75,q0.9,q0.98\ns00,y,1,"));
    assert_int_equal(lines(out), 1 + 8 * 6); // header + series x steps
    free(out), free(err);
    snprintf(args, sizeof args, "predict %s %s --format json --interpret", MODEL, req_path);
    assert_int_equal(run(args, &out, &err), 0);
    assert_non_null(strstr(out, "\"forecasts\":[{\"id\":\"s00\",\"encoder_length\":24,\"targets\":{\"y\":[["));
    assert_non_null(strstr(out, "\"interpretation\":{\"variables\":{\"static\":[\"series\""));
    // the levels as the table and CSV print them (0.02, not the float's "%.9g" 0.0199999996)
    assert_non_null(strstr(out, "{\"model\":{\"name\":\"model\",\"sha256\":\""));
    assert_non_null(strstr(out, "\"quantiles\":[0.02,0.1,0.25,0.5,0.75,0.9,0.98],\"horizon\":6,"));
    free(out), free(err);
}

static void test_predict_bad_requests(void **state) {
    (void)state;
    char args[256];
    snprintf(args, sizeof args, "predict %s %s", MODEL, req_path);
    write_request("{\"series\": [");
    // (the message of the project's one JSON scanner, loader/json.h: it says what was expected where;
    // "incomplete document" was jsmn's word for any truncated body)
    expect_error(args, 1, "request is not valid JSON: unexpected end of input (expected a value) at byte 12");
    write_request_with("\"horizon\":6", "\"horizon\":6,\"extra\":1");
    expect_error(args, 1, "unknown key 'extra'");
    write_request_with("\"temp\":[", "\"tmep\":[");
    expect_error(args, 1, "series 0 's00': history has 'tmep', which is not an input of this model");
    write_request_with("\"region\":\"north\"", "\"region\":\"atlantis\"");
    expect_error(args, 1, "series 0 's00': 'region' = 'atlantis' is a category the model never saw");
    write_request_with("\"horizon\":6", "\"horizon\":7");
    expect_error(args, 1, "horizon 7 is outside");
    write_request_with("\"hour\":[", "\"hour\":[1e400,"); // the server's decoder: series and field named
    expect_error(args, 1, "series 0 's00': history 'hour'[0] = 1e400 is not a finite float");
    write_request_with("\"dow\":[\"0\"", "\"dow\":[0");
    expect_error(args, 1, "series 0 's00': history 'dow'[0] must be a string (a category label), not a number");
    expect_error("predict " MODEL " /nonexistent.json", 1, "cannot open /nonexistent.json");
    // a request naming another model is refused, as tft-server refuses it (404 unknown_model); the
    // model's name is its file name without .safetensors, as the server names it
    write_request_with("\"horizon\":6", "\"model\":\"other\",\"horizon\":6");
    expect_error(args, 1, "the request is for model 'other'; this is model 'model'");
    write_request_with("\"horizon\":6", "\"model\":\"model\",\"horizon\":6");
    char *out, *err;
    int   rc = run(args, &out, &err);
    if (rc != 0) fail_msg("a request naming this model: exit %d: %s", rc, err);
    free(out), free(err);
}

// The request is capped (--max-request-bytes, default 64 MiB): /dev/zero and a pipe stop at the cap
// instead of growing without bound, a large regular file is refused before it is read (a 2 GB sparse
// file, answered in well under a second), and the flag raises or lowers the cap.
static void test_predict_request_size_cap(void **state) {
    (void)state;
    expect_error("predict " MODEL " /dev/zero", 1, "/dev/zero is larger than the request size cap of 67108864");
    expect_error("predict " MODEL " - < /dev/zero", 1, "/dev/stdin is larger than the request size cap of 67108864");
    char big[64] = "/tmp/tft_cli_big_XXXXXX";
    int  fd      = mkstemp(big);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)2 << 30), 0); // 2 GiB, sparse
    close(fd);
    char   args[256];
    struct timespec t0, t1;
    snprintf(args, sizeof args, "predict %s %s", MODEL, big);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    expect_error(args, 1, "is 2147483648 bytes, more than the request size cap of 67108864 (--max-request-bytes)");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    if (s > 1.0) fail_msg("refusing a 2 GiB request took %.2f s: it was read", s);
    remove(big);
    // the cap is the flag's: the fixture request passes with its own size, fails one byte below it
    write_request(request);
    size_t n = strlen(request);
    char  *out, *err;
    snprintf(args, sizeof args, "predict %s %s --max-request-bytes %zu", MODEL, req_path, n);
    assert_int_equal(run(args, &out, &err), 0);
    free(out), free(err);
    snprintf(args, sizeof args, "predict %s %s --max-request-bytes %zu", MODEL, req_path, n - 1);
    expect_error(args, 1, "more than the request size cap");
    snprintf(args, sizeof args, "predict %s - --max-request-bytes %zu < %s", MODEL, n - 1, req_path); // a file
    char msg[128];
    snprintf(msg, sizeof msg, "/dev/stdin is %zu bytes, more than the request size cap of %zu", n, n - 1);
    expect_error(args, 1, msg);
    char pipe_cmd[512]; // a pipe: its size is unknown until it is read
    snprintf(pipe_cmd, sizeof pipe_cmd, "cat %s | %s predict %s - --max-request-bytes %zu >%s 2>%s", req_path, TFT, MODEL,
             n - 1, out_path, err_path);
    int rc = system(pipe_cmd);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
    err = slurp(err_path);
    assert_non_null(strstr(err, "/dev/stdin is larger than the request size cap"));
    free(err);
    expect_error("predict " MODEL " x.json --max-request-bytes 0", 2, "--max-request-bytes must be");
}

// --format json is valid JSON whatever bytes the model's path holds: bytes that are not UTF-8
// become U+FFFD (the model is named by its file name).
static void test_predict_json_invalid_utf8_path(void **state) {
    (void)state;
    write_request(request);
    char link[64]; // "/tmp/tft_cli_<0xff><0xc3>(_PID.safetensors": a stray byte, a truncated sequence
    snprintf(link, sizeof link, "/tmp/tft_cli_%c%c(_%d.safetensors", 0xff, 0xc3, (int)getpid());
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    char target[4200];
    snprintf(target, sizeof target, "%s/%s", cwd, MODEL);
    assert_int_equal(symlink(target, link), 0);
    char args[512], *out, *err;
    snprintf(args, sizeof args, "predict '%s' %s --format json", link, req_path);
    int rc = run(args, &out, &err);
    remove(link);
    if (rc != 0) fail_msg("exit %d: %s", rc, err);
    const char *want = "{\"model\":{\"name\":\"tft_cli_\\ufffd\\ufffd(_";
    if (strncmp(out, want, strlen(want)) != 0) fail_msg("output starts %.80s, want %s", out, want);
    for (const unsigned char *p = (const unsigned char *)out; *p; p++)
        if (*p >= 0x80) fail_msg("raw byte 0x%02x in the JSON output", *p); // (this output is all ASCII)
    free(out), free(err);
}

// TFT_ISA forces a CPU path: `tft version` names the one taken; a path this CPU lacks, or an unknown
// name, makes loading a model fail with one line that says which (exit 1), never a crash.
static void test_isa_env(void **state) {
    (void)state;
    char *out, *err;
    for (int i = 0; i < TFT_ISA_COUNT; i++) {
        const char *name = tft_op_isa_name((tft_isa)i);
        setenv("TFT_ISA", name, 1);
        if (tft_op_isa_supported((tft_isa)i)) {
            char want[32];
            snprintf(want, sizeof want, "isa=%s linear=", name);
            assert_int_equal(run("version", &out, &err), 0);
            assert_non_null(strstr(out, want));
            free(out), free(err);
            assert_int_equal(run("info " MODEL, &out, &err), 0);
            free(out), free(err);
        } else {
            char want[64];
            snprintf(want, sizeof want, "TFT_ISA=%s: this CPU (or this build of libtft) lacks", name);
            expect_error("info " MODEL, 1, want);
        }
    }
    setenv("TFT_ISA", "sse9", 1);
    expect_error("info " MODEL, 1, "TFT_ISA=sse9 is not a CPU path: use avx512, avx2, portable or auto");
    setenv("TFT_ISA", "auto", 1);
    assert_int_equal(run("version", &out, &err), 0);
    char want[32];
    snprintf(want, sizeof want, "isa=%s ", tft_op_isa_name(tft_op_isa())); // the best this CPU has
    assert_non_null(strstr(out, want));
    free(out), free(err);
    unsetenv("TFT_ISA");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_isa_env),
        cmocka_unit_test(test_help),           cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_info),           cmocka_unit_test(test_info_labels), cmocka_unit_test(test_info_lags),
        cmocka_unit_test(test_predict_formats),
        cmocka_unit_test(test_predict_bad_requests), cmocka_unit_test(test_predict_request_size_cap),
        cmocka_unit_test(test_predict_json_invalid_utf8_path),
    };
    return cmocka_run_group_tests_name("cli", tests, setup, teardown);
}

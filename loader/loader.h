// loader.h: the weights file (safetensors). Opens, maps, validates the header and tensor table
// (RELIABILITY.md §2.3) and hands out tensors and __metadata__ strings. Knows nothing about TFT.
//
// Every failure returns a tft_status (TFT_ERR_IO, TFT_ERR_FORMAT, TFT_ERR_NOMEM, TFT_ERR_INVALID_ARG)
// plus a precise reason code and a one-line message naming the problem (and the tensor, if any).
#ifndef TFT_LOADER_H
#define TFT_LOADER_H
#include <stddef.h>
#include <stdint.h>
#include "../engine/tft.h"

#define TFT_LD_HEADER_CAP   (16u << 20) // max JSON header bytes (S2)
#define TFT_LD_MAX_TENSORS  4096        // max tensor entries (S4)
#define TFT_LD_MAX_RANK     8           // (S8)
#define TFT_LD_MAX_NAME     256         // max tensor name bytes (S11)
#define TFT_LD_MAX_META     (8u << 20)  // max bytes of one __metadata__ value

typedef enum tft_ld_dtype {
    TFT_LD_F32, TFT_LD_F64, TFT_LD_F16, TFT_LD_BF16, TFT_LD_I64, TFT_LD_I32, TFT_LD_I16, TFT_LD_I8,
    TFT_LD_U8, TFT_LD_BOOL
} tft_ld_dtype;

// Why a file was rejected (tests assert on these; messages are for humans).
typedef enum tft_ld_reason {
    TFT_LD_OK = 0,
    TFT_LD_E_ARG,            // NULL argument
    TFT_LD_E_OPEN,           // open/stat/read/mmap failed
    TFT_LD_E_NOMEM,
    TFT_LD_E_TOO_SMALL,      // < 8 bytes
    TFT_LD_E_HEADER_LEN,     // N > cap or N > file_size - 8, or N == 0
    TFT_LD_E_HEADER_START,   // first header byte is not '{' (or not safetensors at all)
    TFT_LD_E_HEADER_UTF8,    // invalid UTF-8 or NUL in the header
    TFT_LD_E_JSON,           // not strict JSON (incl. duplicate keys, depth, trailing garbage)
    TFT_LD_E_HEADER_PADDING, // bytes after the JSON value other than 0x20
    TFT_LD_E_NOT_OBJECT,     // header or a tensor entry is not an object
    TFT_LD_E_ENTRY_KEYS,     // entry lacks dtype/shape/data_offsets or has other keys
    TFT_LD_E_DTYPE,          // dtype not a string or not in the whitelist
    TFT_LD_E_SHAPE,          // shape not an array of non-negative integers, rank > 8, or element overflow
    TFT_LD_E_OFFSETS,        // data_offsets not exactly 2 integers, begin > end, or end - begin != nbytes
    TFT_LD_E_OVERFLOW,       // size arithmetic overflow
    TFT_LD_E_OUT_OF_BOUNDS,  // an offset past the data buffer
    TFT_LD_E_OVERLAP,        // two tensors share bytes
    TFT_LD_E_HOLE,           // bytes of the buffer not covered by any tensor (gap)
    TFT_LD_E_TRAILING,       // bytes after the last tensor
    TFT_LD_E_NAME,           // empty, too long, or NUL in a tensor name
    TFT_LD_E_TOO_MANY,       // more than TFT_LD_MAX_TENSORS entries
    TFT_LD_E_METADATA,       // __metadata__ not a flat string->string object, or a value too long
} tft_ld_reason;

typedef struct tft_ld_tensor {
    const char   *name;                    // NUL-terminated
    tft_ld_dtype  dtype;
    int32_t       rank;
    int64_t       shape[TFT_LD_MAX_RANK];
    int64_t       nelem;
    size_t        nbytes;
    const void   *data;   // inside the mapping; NOT necessarily aligned for dtype (copy before use)
} tft_ld_tensor;

typedef struct tft_ld_file tft_ld_file;

typedef struct tft_ld_error {
    tft_status    status;
    tft_ld_reason reason;
    char          msg[256];
} tft_ld_error;

// Opens and validates a file (mmap, read-only). err may be NULL.
tft_status tft_ld_open(const char *path, tft_ld_file **out, tft_ld_error *err);
// Same on a caller buffer, which must outlive the tft_ld_file (nothing is copied). For tests/fuzzing.
tft_status tft_ld_open_memory(const void *buf, size_t len, tft_ld_file **out, tft_ld_error *err);
void       tft_ld_close(tft_ld_file *f); // NULL is a no-op

int32_t              tft_ld_count(const tft_ld_file *f);
const tft_ld_tensor *tft_ld_tensor_at(const tft_ld_file *f, int32_t i);        // sorted by name
const tft_ld_tensor *tft_ld_find(const tft_ld_file *f, const char *name);     // NULL if absent
const char          *tft_ld_metadata(const tft_ld_file *f, const char *key);  // NULL if absent
size_t               tft_ld_file_size(const tft_ld_file *f);
const void          *tft_ld_file_bytes(const tft_ld_file *f); // whole file (for checksums)
const char          *tft_ld_dtype_name(tft_ld_dtype d);        // "F32"
size_t               tft_ld_dtype_size(tft_ld_dtype d);
#endif

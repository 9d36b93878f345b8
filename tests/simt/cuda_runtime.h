// cuda_runtime.h (SIMT harness facade): cuda/*.cu built with -Itests/simt include this instead of
// the CUDA toolkit's header; everything lives in simt.h.
#include "simt.h"

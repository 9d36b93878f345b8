# tft: make | make test | make run (the server) | make predict | make bench | make SAN=1 test | make fuzz | make install PREFIX=...
#      make CUDA=0|1 (default: 1 when nvcc is found) | make SAN=thread test | V=1 for full command lines
# (never put a trailing "# comment" after a variable value: make keeps the spaces before it)
VERSION   := 0.1.0
SOVERSION := 0
PREFIX    ?= /usr/local
CC        ?= cc
ifeq ($(origin CC),default)
  CC := gcc
endif
OPT       ?= -O3
CFLAGS    ?= -g
WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter -Wno-format-truncation
TFT_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden -DTFT_SHARED \
             $(WARN) $(OPT) -MMD -MP $(BLAS_CFLAGS)

PKG_CONFIG    ?= pkg-config
BLAS_CFLAGS   ?= $(shell $(PKG_CONFIG) --cflags openblas 2>/dev/null)
BLAS_LIBS     ?= $(shell $(PKG_CONFIG) --libs openblas 2>/dev/null || echo -lopenblas)
CMOCKA_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   ?= $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)

# CUDA: on when nvcc is found, unless CUDA=0 is given. CUDA_ARCH 90 = H100/H200.
CUDA_HOME ?= /usr/local/cuda
NVCC      ?= $(firstword $(wildcard $(CUDA_HOME)/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
ifeq ($(origin CUDA),undefined)
  CUDA := $(if $(NVCC),1,0)
endif
CUDA_ARCH ?= 90
ifeq ($(CUDA),1)
  ifeq ($(NVCC),)
    $(error CUDA=1 but nvcc was not found; set CUDA_HOME or NVCC)
  endif
  TFT_CFLAGS += -DTFT_USE_CUDA -I$(CUDA_HOME)/include
  NVCCFLAGS  ?= -O3 -std=c++17 -lineinfo \
                -gencode arch=compute_$(CUDA_ARCH),code=sm_$(CUDA_ARCH) \
                -gencode arch=compute_$(CUDA_ARCH),code=compute_$(CUDA_ARCH)
  NVCCFLAGS  += -DTFT_USE_CUDA -Xcompiler -fPIC,-fvisibility=hidden -MMD -MP
  # -lstdc++: nvcc host stubs need the C++ runtime when gcc links them
  CUDA_LIBS  := -L$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
endif

# SAN=1: AddressSanitizer + UndefinedBehaviorSanitizer, first report is fatal
# SAN=thread: ThreadSanitizer (the context's worker pool)
ifeq ($(SAN),1)
  OPT        := -O1
  TFT_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  SAN_LDFLAGS := -fsanitize=address,undefined
endif
ifeq ($(SAN),thread)
  OPT        := -O1
  TFT_CFLAGS += -fsanitize=thread -fno-omit-frame-pointer
  SAN_LDFLAGS := -fsanitize=thread
endif

# libtft itself needs only libc and libm (+ CUDA when built with it); OpenBLAS is for the
# benchmarks' sgemm reference rate (ops/linear.c says why the library does not use it).
LIBS   = $(CUDA_LIBS) -lpthread -lm
# one build dir per config, so flipping CUDA= or SAN= never mixes objects
BUILD := build/$(if $(filter 1,$(SAN)),san-)$(if $(filter thread,$(SAN)),tsan-)$(if $(filter 1,$(CUDA)),cuda,cpu)

LIB_SRC := $(wildcard engine/*.c ops/*.c loader/*.c)
CU_SRC  := $(if $(filter 1,$(CUDA)),$(wildcard cuda/*.cu))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CU_SRC:%.cu=$(BUILD)/%.cu.o)
CLI_SRC := $(wildcard engine/cli/*.c)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
CLI_LIB_OBJ := $(filter-out $(BUILD)/engine/cli/tft_main.o,$(CLI_OBJ))
# the HTTP server's codec (JSON request decoder, response writer, KServe v2): pure C, no MHD; linked
# into the tests and the fuzz targets
SERVER_SRC := $(wildcard server/json_in.c server/json_out.c server/kserve.c server/errmap.c)
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/%.o)
ifneq ($(SERVER_OBJ),)
.SECONDARY: $(SERVER_OBJ)
endif
# the daemon (tft-server): everything else in server/ (libmicrohttpd wrapper, batcher, metrics, routes, main)
DAEMON_SRC := $(filter-out $(SERVER_SRC),$(wildcard server/*.c))
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(BUILD)/%.o)
MHD_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags libmicrohttpd hwloc 2>/dev/null)
MHD_LIBS   ?= $(shell $(PKG_CONFIG) --libs libmicrohttpd hwloc 2>/dev/null || echo -lmicrohttpd -lhwloc)
$(DAEMON_OBJ): TFT_CFLAGS += $(MHD_CFLAGS)
# ops/vmath.h passes 32-byte vectors to always-inline helpers; without AVX GCC prints the note "the
# ABI for passing parameters with 32-byte alignment has changed in GCC 4.6" once per such file, and
# only the flag silences it (vmath.h says why it does not apply)
VMATH_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(shell grep -l '"vmath.h"' ops/*.c 2>/dev/null))
$(VMATH_OBJ): TFT_CFLAGS += -Wno-psabi
TESTS   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/bench_*.c))
FUZZ    := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

# SIMT harness (tests/simt/): the cuda/*.cu kernels compiled as C++ by g++ against a test-only
# CUDA facade and run on CPU fibers, so `make test` (plain, SAN=1, SAN=thread) runs the kernels' own
# source against the CPU _refs without a GPU, in every CUDA= configuration. Under TSan the harness
# engine (simt.cc) is built uninstrumented with -DSIMT_TSAN (it drives TSan's fiber API) while the
# kernels are instrumented. test_cuda_simt is tests/test_cuda.c built against the harness.
SIMT_CXXFLAGS = -std=c++17 -D_GNU_SOURCE -Itests/simt -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
                -Wno-unknown-pragmas -ffp-contract=off $(OPT) -g -MMD -MP \
                $(filter -fsanitize=% -fno-sanitize-recover=% -fno-omit-frame-pointer,$(TFT_CFLAGS))
SIMT_ENGINE_CXXFLAGS = $(if $(filter thread,$(SAN)),$(filter-out -fsanitize=thread,$(SIMT_CXXFLAGS)) -DSIMT_TSAN,\
                         $(SIMT_CXXFLAGS))
SIMT_KERNEL_OBJ := $(patsubst cuda/%.cu,$(BUILD)/simt/cuda/%.o,$(wildcard cuda/*.cu))
SIMT_OBJ        := $(SIMT_KERNEL_OBJ) $(BUILD)/simt/simt.o
# the library's C objects only (in CUDA=1 the nvcc objects would define the tft_cuda_* twice)
SIMT_LIB_OBJ    := $(filter-out %.cu.o,$(LIB_OBJ))
SIMT_TEST_CFLAGS = $(filter-out -DTFT_USE_CUDA -I$(CUDA_HOME)/include,$(TFT_CFLAGS)) -DTFT_USE_CUDA -DTFT_SIMT
TESTS += $(BUILD)/tests/test_simt $(BUILD)/tests/test_cuda_simt

$(BUILD)/simt/cuda/%.o: cuda/%.cu
	$(call say,CXX,$<)mkdir -p $(@D) && $(CXX) -x c++ $(SIMT_CXXFLAGS) -c $< -o $@
$(BUILD)/simt/simt.o: tests/simt/simt.cc
	$(call say,CXX,$<)mkdir -p $(@D) && $(CXX) $(SIMT_ENGINE_CXXFLAGS) -c $< -o $@
$(BUILD)/simt/test_simt.o: tests/simt/test_simt.cu
	$(call say,CXX,$<)mkdir -p $(@D) && $(CXX) -x c++ $(SIMT_CXXFLAGS) $(CMOCKA_CFLAGS) -c $< -o $@
$(BUILD)/simt/test_cuda.o: tests/test_cuda.c
	$(call say,CC,$<)mkdir -p $(@D) && $(CC) $(SIMT_TEST_CFLAGS) $(CMOCKA_CFLAGS) $(CFLAGS) -c $< -o $@
$(BUILD)/tests/test_simt: $(BUILD)/simt/test_simt.o $(BUILD)/simt/simt.o $(SIMT_LIB_OBJ)
	$(call say,LINK,$@)mkdir -p $(@D) && $(CXX) -o $@ $^ $(CMOCKA_LIBS) $(LDFLAGS) $(SAN_LDFLAGS) -lpthread -lm
$(BUILD)/tests/test_cuda_simt: $(BUILD)/simt/test_cuda.o $(SIMT_OBJ) $(SIMT_LIB_OBJ)
	$(call say,LINK,$@)mkdir -p $(@D) && $(CXX) -o $@ $^ $(CMOCKA_LIBS) $(LDFLAGS) $(SAN_LDFLAGS) -lpthread -lm
-include $(SIMT_OBJ:.o=.d) $(BUILD)/simt/test_simt.d $(BUILD)/simt/test_cuda.d

ifndef V
  say = @printf '  %-6s %s\n' $(1) $(2);
endif

.PHONY: all lib cli server test bench run predict install clean fuzz fuzz-run check-symbols print-build
all: lib cli server $(BUILD)/tft.pc
	@echo "tft $(VERSION): CUDA=$(CUDA) SAN=$(or $(SAN),0) -> $(BUILD)/"
lib: $(BUILD)/libtft.a $(BUILD)/libtft.so
cli: $(BUILD)/tft
server: $(BUILD)/tft-server

$(BUILD)/%.o: %.c
	$(call say,CC,$<)mkdir -p $(@D) && $(CC) $(TFT_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c $< -o $@
$(BUILD)/%.cu.o: %.cu
	$(call say,NVCC,$<)mkdir -p $(@D) && $(NVCC) $(NVCCFLAGS) -c $< -o $@
$(BUILD)/libtft.a: $(LIB_OBJ)
	$(call say,AR,$@)rm -f $@ && $(AR) rcs $@ $^
$(BUILD)/libtft.so.$(VERSION): $(LIB_OBJ)
	$(call say,LINK,$@)$(CC) -shared -Wl,-soname,libtft.so.$(SOVERSION) -o $@ $^ $(LDFLAGS) $(SAN_LDFLAGS) $(LIBS)
$(BUILD)/libtft.so: $(BUILD)/libtft.so.$(VERSION)
	@ln -sf libtft.so.$(VERSION) $@ && ln -sf libtft.so.$(VERSION) $(BUILD)/libtft.so.$(SOVERSION)

# the CLI decodes requests and writes JSON with the server's codec (SERVER_OBJ): one decoder, one writer
$(BUILD)/tft: $(CLI_OBJ) $(SERVER_OBJ) $(BUILD)/libtft.a
	$(call say,LINK,$@)$(CC) -o $@ $(CLI_OBJ) $(SERVER_OBJ) $(BUILD)/libtft.a $(LDFLAGS) $(SAN_LDFLAGS) $(LIBS)
	@ln -sf $(patsubst build/%,%,$(BUILD))/tft build/tft

# the HTTP server: libtft + the codec + the daemon, with libmicrohttpd and hwloc (server/API.md)
$(BUILD)/tft-server: $(DAEMON_OBJ) $(SERVER_OBJ) $(BUILD)/libtft.a
	$(call say,LINK,$@)$(CC) -o $@ $(DAEMON_OBJ) $(SERVER_OBJ) $(BUILD)/libtft.a $(LDFLAGS) $(SAN_LDFLAGS) \
	    $(MHD_LIBS) $(SQLITE_LIBS) $(LIBS)
	@ln -sf $(patsubst build/%,%,$(BUILD))/tft-server build/tft-server

# fleet mode (server/fleet.h): its core needs SQLite (libsqlite3-dev); tests/test_fleet links the core
# (libtft again after it: the core calls the library) and runs tft-server for the kill -9 test
SQLITE_LIBS ?= $(shell $(PKG_CONFIG) --libs sqlite3 2>/dev/null || echo -lsqlite3)
FLEET_OBJ   := $(BUILD)/server/fleet.o
$(FLEET_OBJ): TFT_CFLAGS += $(shell $(PKG_CONFIG) --cflags sqlite3 2>/dev/null)
$(BUILD)/tests/test_fleet: $(FLEET_OBJ) $(BUILD)/tft-server
$(BUILD)/tests/test_fleet: TEST_LIBS = $(FLEET_OBJ) $(BUILD)/libtft.a $(SQLITE_LIBS) $(LIBS)

# tests may use the CLI's request reader (engine/cli/request.c) and the server's codec as well as the library;
# test_cli runs the tft binary of the same build, test_server the tft-server binary
$(BUILD)/tests/test_server: $(BUILD)/tft-server
$(BUILD)/tests/%: tests/%.c $(BUILD)/libtft.a $(CLI_LIB_OBJ) $(SERVER_OBJ) $(wildcard tests/*.h) $(BUILD)/tft
	$(call say,CC,$@)mkdir -p $(@D) && $(CC) $(TFT_CFLAGS) $(CMOCKA_CFLAGS) $(CFLAGS) -DTFT_BUILD_DIR='"$(BUILD)"' $< -o $@ \
	    $(CLI_LIB_OBJ) $(SERVER_OBJ) $(BUILD)/libtft.a $(CMOCKA_LIBS) $(LDFLAGS) $(SAN_LDFLAGS) $(LIBS) $(TEST_LIBS)
# the benchmarks' header names the cores/PUs through hwloc when libhwloc-dev is installed (bench only)
BENCH_HWLOC ?= $(shell $(PKG_CONFIG) --exists hwloc 2>/dev/null && echo 1)
$(BUILD)/bench/%: bench/%.c $(BUILD)/libtft.a $(CLI_LIB_OBJ) $(SERVER_OBJ) $(wildcard bench/*.h)
	$(call say,CC,$@)mkdir -p $(@D) && $(CC) $(TFT_CFLAGS) $(CFLAGS) $(if $(BENCH_HWLOC),-DTFT_BENCH_HWLOC \
	    $(shell $(PKG_CONFIG) --cflags hwloc)) $< -o $@ $(CLI_LIB_OBJ) $(SERVER_OBJ) $(BUILD)/libtft.a \
	    $(LDFLAGS) $(SAN_LDFLAGS) $(LIBS) $(BLAS_LIBS) $(if $(BENCH_HWLOC),$(shell $(PKG_CONFIG) --libs hwloc))

# Runs every test binary from the repo root; ends with the "N passed, N failed, N skipped" line CI reads.
# Exit status 77 means skipped (the automake convention: test_cuda without a device).
test: $(TESTS)
	@pass=0; fail=0; skip=0; for t in $(TESTS); do \
	    $$t; rc=$$?; if [ $$rc = 0 ]; then pass=$$((pass+1)); elif [ $$rc = 77 ]; then skip=$$((skip+1)); \
	    echo "SKIPPED: $$t"; else fail=$$((fail+1)); echo "FAILED: $$t"; fi; done; \
	echo "$$pass passed, $$fail failed, $$skip skipped"; test $$fail -eq 0

# The Python package's tests (python/: parity with the goldens, the binding, Spark in local[2]), run
# against this build's libtft.so and the package's sources, without installing them. Not part of
# `make test`, which needs no Python. Needs python/requirements-test.txt (+ Java for the Spark test,
# which is skipped without pyspark unless TFT_REQUIRE_SPARK=1).
PYTHON ?= python3
.PHONY: test-python
test-python: $(BUILD)/libtft.so
	cd python && TFT_LIBRARY=$(CURDIR)/$(BUILD)/libtft.so PYTHONPATH=$(CURDIR)/python/src $(PYTHON) -m pytest -q tests

# The main job: serve the bundled default model (Ctrl-C stops it; the line below is the request to try).
# exec: the shell make starts becomes the server, so a signal to make's child (make forwards SIGTERM
# to it) reaches the server itself rather than a shell that would leave it running.
run: $(BUILD)/tft-server
	@echo "try: curl -s localhost:$${TFT_SERVER_PORT:-8080}/v1/forecast -H 'Content-Type: application/json' --data @weights/sample_request.json"
	exec $(BUILD)/tft-server --model weights/default.safetensors --port $${TFT_SERVER_PORT:-8080}

# One-shot: forecast the bundled sample series with the bundled default model (a table of quantiles).
predict: $(BUILD)/tft
	$(BUILD)/tft predict weights/default.safetensors weights/sample_request.json

bench: $(BENCHES)
	@for b in $(BENCHES); do $$b || exit 1; done

# The forward's speed as a fraction of this machine's OpenBLAS sgemm rate (measured in the same run),
# per configuration of bench/baseline.txt; fails when one falls more than BENCH_TOL (0.25 = 25 %)
# below its baseline. Not part of `make test` (timing). New baseline: bench_forward --write-baseline.
BENCH_TOL ?= 0.25
.PHONY: bench-check
bench-check: $(BUILD)/bench/bench_forward
	$(BUILD)/bench/bench_forward --check bench/baseline.txt --tolerance $(BENCH_TOL) --seconds 3

# libFuzzer targets (clang-14 + libfuzzer-14-dev); fuzz-run gives each FUZZ_SECONDS.
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 30
build/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(SERVER_SRC)
	$(call say,FUZZ,$@)mkdir -p $(@D) && $(FUZZ_CC) -std=c11 -D_GNU_SOURCE -g -O1 \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    $< $(LIB_SRC) $(SERVER_SRC) -o $@ $(LIBS)
fuzz: $(FUZZ)
fuzz-run: $(FUZZ)
	@for f in $(FUZZ); do n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
	    seeds=$$(ls -d tests/fuzz/corpus/$$n 2>/dev/null); \
	    dict=$$(ls tests/fuzz/$$n.dict 2>/dev/null | sed 's/^/-dict=/'); \
	    { $$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -print_final_stats=1 $$dict \
	        build/fuzz/corpus-$$n $$seeds 2>&1; echo $$? > build/fuzz/rc-$$n; } | tail -n 12; \
	    rc=$$(cat build/fuzz/rc-$$n); test "$$rc" = 0 || { echo "FUZZ FAILED: $$n (exit $$rc)"; exit 1; }; done

# Every external symbol of libtft.a must start with tft_ (static embedders never collide).
check-symbols: $(BUILD)/libtft.a
	@! nm -g --defined-only $< | awk 'NF==3 && $$3 !~ /^(tft_|DW\.ref\.)/ {print; bad=1} END{exit !bad}'
	@echo "check-symbols: every exported symbol starts with tft_"

# tft.pc for PREFIX as it is now; install writes it again for the prefix actually installed to
$(BUILD)/tft.pc: tft.pc.in Makefile
	$(call say,GEN,$@)mkdir -p $(@D) && sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@LIBS_PRIVATE@|$(LIBS)|' -e 's|@RPATH@|$(PC_RPATH)|' tft.pc.in > $@

# the installed .pc is written at install time, so its prefix is always the one installed to.
# Its Libs carry -Wl,-rpath,PREFIX/lib (except for PREFIX=/usr, a default library dir): a program
# linked through pkg-config then finds libtft.so at run time without ldconfig, LD_LIBRARY_PATH or
# root, for any prefix (/opt/tft, /usr/local, $HOME/.local), and DESTDIR staging works unchanged.
PC_RPATH = $(if $(filter /usr /usr/,$(PREFIX)),,-Wl,-rpath,$${libdir})
install: lib cli server
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 engine/tft.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/libtft.a $(BUILD)/libtft.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libtft.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libtft.so.$(SOVERSION)
	ln -sf libtft.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libtft.so
	install -m 755 $(BUILD)/tft $(BUILD)/tft-server $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' -e 's|@LIBS_PRIVATE@|$(LIBS)|' \
	    -e 's|@RPATH@|$(PC_RPATH)|' tft.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/tft.pc
clean:
	rm -rf build
# the build folder of this configuration (scripts use it instead of the build/tft symlink, which
# points to whichever configuration was linked last)
print-build:
	@echo $(BUILD)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(SERVER_OBJ:.o=.d) $(DAEMON_OBJ:.o=.d) $(TESTS:=.d) $(BENCHES:=.d)

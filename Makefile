# sensorwire - build, test, demo, bench, install.
#
#   make                  build sensor-bridge and sensor-publisher into $(BUILD)/
#   make test             install missing Debian packages, then run every test
#                         (unit + integration) under AddressSanitizer and UBSan
#   make demo             the whole pipeline on loopback (Ctrl-C stops it)
#   make bench            throughput / footprint figures
#   make install PREFIX=/usr/local
#
# BUILD selects the build directory (several trees can coexist), SAN=1 turns
# on ASan+UBSan, V=1 shows the commands, PUBLISHER_STATIC=0 / BRIDGE_STATIC=0
# link the publisher / the bridge dynamically. User CFLAGS stay apart from ours.

VERSION    := 0.1.0
PREFIX     ?= /usr/local
SAN        ?= 0

# --- toolchain: native, or a cross build for a Pi from a PC -----------------
# `make CROSS=arm-linux-gnueabihf-` (or aarch64-linux-gnu-) takes the compiler,
# ar, nm, objcopy and pkg-config of that prefix, so the target's libraries and
# flags are used, never the host's. `make CC=arm-linux-gnueabihf-gcc` alone
# implies the same prefix. ARCH_FLAGS adds target flags to every compile and
# link, e.g. ARCH_FLAGS='-march=armv6+fp -marm' for Raspberry Pi OS 32-bit's
# ARMv6 baseline (Pi Zero/1). See README "Building for a Pi from a PC".
ifeq ($(origin CROSS),undefined)
CROSS := $(if $(filter-out default,$(origin CC)),$(patsubst %gcc,%,$(filter %-gcc,$(notdir $(CC)))))
endif
ifeq ($(origin CC),default)
CC := $(if $(CROSS),$(CROSS)gcc,cc)
endif
ifeq ($(origin AR),default)
AR := $(CROSS)ar
endif
NM         ?= $(CROSS)nm
OBJCOPY    ?= $(CROSS)objcopy
# Debian 13 has <triplet>-pkg-config for every architecture; Debian 12 has it
# only for the native one, so a cross build there asks pkg-config for the
# target's own .pc directories, which is what the wrapper does
PKG_CONFIG ?= $(if $(CROSS),$(if $(shell command -v $(CROSS)pkg-config),$(CROSS)pkg-config,\
	PKG_CONFIG_LIBDIR=/usr/lib/$(TRIPLET)/pkgconfig:/usr/share/pkgconfig pkg-config),pkg-config)
ARCH_FLAGS ?=
TRIPLET    := $(shell $(CC) -dumpmachine 2>/dev/null)
# one id per target: the triplet, plus a checksum of ARCH_FLAGS when set
# (ARMv6 and ARMv7 share the triplet)
TARGET_ID  := $(TRIPLET)$(if $(ARCH_FLAGS),-$(shell echo '$(ARCH_FLAGS)' | cksum | cut -d' ' -f1))
# a cross build goes to its own tree unless BUILD says otherwise
BUILD      ?= $(if $(CROSS)$(ARCH_FLAGS),build/$(TARGET_ID),build)

# the publisher is linked statically unless sanitizers are on (ASan needs a
# dynamic program) or PUBLISHER_STATIC=0; it needs only Debian's .a files
PUBLISHER_STATIC ?= $(if $(filter 1,$(SAN)),0,1)
# The bridge links Debian's shared libraries by default. BRIDGE_STATIC=1 is the
# images' and releases' build: a static bridge with libcurl, libmicrohttpd and
# cJSON compiled from Debian's sources with only what it uses
# (scripts/static-deps.sh, minutes and network once, into DEPS_DIR: one tree
# per target, shared by every build tree of it).
BRIDGE_STATIC ?= 0
DEPS_DIR   ?= build/deps/$(TARGET_ID)
CFLAGS     ?= -O2 -g
V          ?= 0
, := ,

ifeq ($(V),0)
Q := @
else
Q :=
endif

WARN := -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wold-style-definition \
	-Wwrite-strings -Wpointer-arith -Wvla -Wformat-security -Wformat=2 -fno-common
ifneq ($(WERROR),0)
WARN += -Werror
endif
SANFLAGS :=
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif

# libgpiod's API changed with 2.0 (Debian 13, Raspberry Pi OS trixie): the
# GPIO backend is publisher/drivers/gpio_v1.c or gpio_v2.c, from the major
# version installed (1 when libgpiod's .pc is missing, e.g. a bridge-only box)
GPIOD_API := $(firstword $(subst ., ,$(shell $(PKG_CONFIG) --modversion libgpiod 2>/dev/null)) 1)

# 64-bit off_t and time_t on 32-bit targets too (armhf): readdir on ext4,
# files past 2 GiB and dates past 2038. No-ops on 64-bit targets.
LFS := -D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64

# Each program gets its own libraries' flags, so building only the publisher
# needs no curl, protobuf or microhttpd development packages.
PUB_PKGS    := libgpiod zlib
BRIDGE_PKGS := libcurl libcjson libprotobuf-c zlib libmicrohttpd
pc_cflags = $(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null)
pc_libs   = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null)
ALL_CFLAGS = -std=gnu11 $(WARN) $(SANFLAGS) $(ARCH_FLAGS) -D_GNU_SOURCE $(LFS) -I. -I$(BUILD)/gen \
	-DSW_VERSION='"$(VERSION)"' -DSW_GPIOD_API=$(GPIOD_API) $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS := $(SANFLAGS) $(ARCH_FLAGS) $(LDFLAGS)
# 64-bit atomics are library calls on ARMv6 (and some other 32-bit targets):
# libatomic, linked only where something uses it
ATOMIC := -Wl,--push-state,--as-needed -latomic -Wl,--pop-state
# Paho: a copy of Debian's archive without its debugging instrumentation
# (common/paho_notrace.c) and reading its sockets in chunks
# (common/paho_sockbuf.c), linked into every program and test
PAHO_TCP_A := $(shell $(CC) $(ARCH_FLAGS) -print-file-name=libpaho-mqtt3a.a)
PAHO_TLS_A := $(shell $(CC) $(ARCH_FLAGS) -print-file-name=libpaho-mqtt3as.a)
PAHO_LIB   := $(BUILD)/paho/libswnt-paho.a
COMMON_LIBS     = $(PAHO_LIB) $(call pc_libs,libssl libcrypto) -lpthread -lm $(ATOMIC)
PUB_LIBS        = $(call pc_libs,$(PUB_PKGS)) $(COMMON_LIBS)
BRIDGE_LIBS     = $(call pc_libs,$(BRIDGE_PKGS)) -lsnappy $(COMMON_LIBS)

# Every object depends on $(BUILD)/.flags, rewritten only when the compiler or
# the flags change, so building a tree again with other flags rebuilds it
# instead of mixing objects.
FLAGS_NOW := $(strip $(CC) | $(ARCH_FLAGS) | $(CFLAGS) | $(SAN) | $(LFS) | $(GPIOD_API))
ifneq ($(FLAGS_NOW),$(strip $(file <$(BUILD)/.flags)))
$(shell mkdir -p $(BUILD))
$(file >$(BUILD)/.flags,$(FLAGS_NOW))
endif

# --- sources: every .c under a component dir belongs to it; main.c is the program
COMMON_SRC    := $(filter-out common/paho_notrace.c common/paho_sockbuf.c,$(wildcard common/*.c))
BRIDGE_SRC    := $(filter-out bridge/main.c,$(wildcard bridge/*.c bridge/sinks/*.c))
PUBLISHER_SRC := $(filter-out publisher/main.c publisher/drivers/gpio_v%.c,\
	$(wildcard publisher/*.c publisher/drivers/*.c)) publisher/drivers/gpio_v$(GPIOD_API).c
PROTO_SRC     := $(BUILD)/gen/proto/remote.pb-c.c
PROTO_HDR     := $(BUILD)/gen/proto/remote.pb-c.h

COMMON_OBJ    := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
BRIDGE_OBJ    := $(BRIDGE_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/proto/remote.pb-c.o
PUBLISHER_OBJ := $(PUBLISHER_SRC:%.c=$(BUILD)/obj/%.o)

UNIT_SRC   := $(wildcard tests/unit/*/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
TOOL_SRC   := $(wildcard tests/tools/*.c bench/*.c)
TOOL_BIN   := $(patsubst %.c,$(BUILD)/tools/%,$(notdir $(TOOL_SRC)))

# PROGRAMS=sensor-publisher builds (and installs) only that one, e.g. for its image
PROGRAMS ?= sensor-bridge sensor-publisher
BINS := $(PROGRAMS:%=$(BUILD)/%)

.PHONY: all test unit unit-bins integration demo bench install deps clean tools check-hw \
	matrix release fuzz
.DEFAULT_GOAL := all
.SECONDARY:

all: $(BINS)

# each component's objects see only its own libraries' flags; the bridge's
# (and the tests' that link it) wait for the generated protobuf header
$(BUILD)/obj/bridge/%.o: PKG_CFLAGS = $(call pc_cflags,$(BRIDGE_PKGS))
$(BUILD)/obj/gen/%.o: PKG_CFLAGS = $(call pc_cflags,$(BRIDGE_PKGS))
$(BUILD)/obj/publisher/%.o: PKG_CFLAGS = $(call pc_cflags,$(PUB_PKGS))
$(BUILD)/obj/tests/unit/bridge/%.o $(BUILD)/obj/tests/tools/%.o $(BUILD)/obj/bench/%.o: \
	PKG_CFLAGS = $(call pc_cflags,$(BRIDGE_PKGS))
$(BUILD)/obj/tests/unit/publisher/%.o: PKG_CFLAGS = $(call pc_cflags,$(PUB_PKGS))
$(BRIDGE_OBJ) $(BUILD)/obj/bridge/main.o \
	$(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/unit/bridge/*.c)): | $(PROTO_HDR)
# libgpiod 1.x's event struct carries a struct timespec in the ABI the
# library was built with, which on Debian 12's 32-bit ports is 32-bit time_t;
# gpio_v1.c turns every timestamp into uint64_t ns, so no time_t leaves it
$(BUILD)/obj/publisher/drivers/gpio_v1.o: LFS := -D_FILE_OFFSET_BITS=64

$(BUILD)/libcommon.a: $(COMMON_OBJ)
	$(Q)rm -f $@ && $(AR) rcs $@ $^
$(BUILD)/libbridge.a: $(BRIDGE_OBJ)
	$(Q)rm -f $@ && $(AR) rcs $@ $^
$(BUILD)/libpublisher.a: $(PUBLISHER_OBJ)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# glibc's linker notes about getaddrinfo/dlopen in static programs are
# filtered out of static links (only those): names resolve through /etc/hosts
# and DNS, which glibc 2.34+ has built in; other NSS modules would need the
# same glibc at run time. ld names a function ("in function `f':") once, before
# the first message about it, so that line is held and printed before the
# first other message (an undefined reference in a function that also has a
# note comes right after the note, without an "in function" line of its own);
# one followed only by notes is dropped with them.
define static_link
	$(Q)$(CC) -static $(ALL_LDFLAGS) $(1) 2>$@.ld; rc=$$?; \
		awk '/: in function .*:$$/ { ctx = $$0; shown = 0; next } \
			/in statically linked applications requires at runtime/ { next } \
			/^collect2: / { ctx = "" } \
			{ if (ctx != "" && !shown) { print ctx; shown = 1 } print }' $@.ld >&2; \
		rm -f $@.ld; exit $$rc
endef
# the archive files behind -l flags (those the compiler finds), so that a
# static program is linked again when a library it holds is updated
static_archives = $(foreach l,$(patsubst -l%,%,$(filter -l%,$(1))),\
	$(abspath $(filter /%,$(shell $(CC) $(ARCH_FLAGS) -print-file-name=lib$(l).a))))
# the static libraries of pkg-config packages, in the order the .pc files give
# (Debian 13's libcrypto needs zstd, and zlib after it)
pc_static = $(shell $(PKG_CONFIG) --static --libs $(1) 2>/dev/null || echo -l$(1)-not-found)

ifeq ($(BRIDGE_STATIC),1)
# The bridge, linked statically (README "Footprint"). Debian's shared libcurl
# maps and initialises GnuTLS, OpenSSL, krb5, LDAP, SSH, RTMP... which alone is
# 9.7 MiB resident; this one has HTTP(S) over OpenSSL and zlib.
$(DEPS_DIR)/.stamp: scripts/static-deps.sh scripts/lib/apt.sh
	$(Q)CC='$(CC)' AR='$(AR)' ARCH_FLAGS='$(ARCH_FLAGS)' CFLAGS_DEPS='$(LFS)' \
		scripts/static-deps.sh $(DEPS_DIR)
BRIDGE_STATIC_LIBS := -lprotobuf-c -lsnappy -lstdc++ $(PAHO_LIB) $(call pc_static,libssl zlib) \
	-lm -lpthread
$(BUILD)/sensor-bridge: $(BUILD)/obj/bridge/main.o $(BUILD)/libbridge.a $(BUILD)/libcommon.a \
		$(DEPS_DIR)/.stamp $(PAHO_LIB) $(call static_archives,$(BRIDGE_STATIC_LIBS) -lc)
	@echo "  LD      $@ (static)"
	$(Q)$(PKG_CONFIG) --print-errors --exists libssl zlib
	$(call static_link,-o $@ $(BUILD)/obj/bridge/main.o $(BUILD)/libbridge.a $(BUILD)/libcommon.a \
		-L$(DEPS_DIR)/lib -lcurl -lmicrohttpd -lcjson $(BRIDGE_STATIC_LIBS) $(ATOMIC))
else
$(BUILD)/sensor-bridge: $(BUILD)/obj/bridge/main.o $(BUILD)/libbridge.a $(BUILD)/libcommon.a \
		$(PAHO_LIB)
	@echo "  LD      $@"
	$(Q)$(PKG_CONFIG) --print-errors --exists $(BRIDGE_PKGS)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(BRIDGE_LIBS)
endif
ifeq ($(PUBLISHER_STATIC),1)
# The publisher, linked statically (README "Footprint"): glibc and the
# libraries' own code, no shared objects to map and relocate. Two Paho
# variants (common/paho.h): plain for tcp://, the TLS one renamed for ssl://,
# so OpenSSL is only touched by a TLS connection. -lc comes before the TLS
# libraries so that the C library's code sits next to ours, not past OpenSSL's;
# publisher/static.ld keeps OpenSSL's code and constants apart from both.
# Both get their symbols prefixed (swtcp_, swtls_): they define the same names,
# and the plain one also its own SHA1_*, which libcrypto defines too. A Paho
# update rebuilds them, and an update of any other library it holds links it
# again. libcommon-split.a is libcommon.a with paho.o replaced by paho_split.o
# (the table of the two renamed variants), so no link depends on which of two
# archive members defining the same symbols the linker takes.
PUB_STATIC_LIBS := $(call pc_static,libgpiod) -lm -lpthread -lc $(call pc_static,libssl zlib)
$(BUILD)/paho/libswtcp-paho.a: $(BUILD)/paho/nt-tcp.a
$(BUILD)/paho/libswtls-paho.a: $(PAHO_LIB)
$(BUILD)/paho/libswtcp-paho.a $(BUILD)/paho/libswtls-paho.a: $(BUILD)/paho/libsw%-paho.a:
	@mkdir -p $(dir $@)
	@echo "  OBJCOPY $@"
	$(Q)$(NM) -g --defined-only $< 2>/dev/null | awk 'NF == 3 { print $$3, "sw$*_" $$3 }' | sort -u >$@.syms
	$(Q)$(OBJCOPY) --redefine-syms=$@.syms $< $@
$(BUILD)/obj/common/paho_split.o: common/paho.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -DSW_PAHO_SPLIT -MMD -MP -c -o $@ $<
$(BUILD)/libcommon-split.a: $(filter-out $(BUILD)/obj/common/paho.o,$(COMMON_OBJ)) \
		$(BUILD)/obj/common/paho_split.o
	$(Q)rm -f $@ && $(AR) rcs $@ $^
$(BUILD)/sensor-publisher: $(BUILD)/obj/publisher/main.o $(BUILD)/libpublisher.a \
		$(BUILD)/libcommon-split.a $(BUILD)/paho/libswtcp-paho.a $(BUILD)/paho/libswtls-paho.a \
		publisher/static.ld $(call static_archives,$(PUB_STATIC_LIBS))
	@echo "  LD      $@ (static)"
	$(Q)$(PKG_CONFIG) --print-errors --exists libgpiod libssl zlib
	$(call static_link,-Wl$(,)-T$(,)publisher/static.ld -o $@ \
		$(BUILD)/obj/publisher/main.o $(BUILD)/libpublisher.a \
		$(BUILD)/libcommon-split.a $(BUILD)/paho/libswtcp-paho.a $(call pc_static,libgpiod) \
		-lm -lpthread -lc $(BUILD)/paho/libswtls-paho.a $(call pc_static,libssl zlib) $(ATOMIC))
else
$(BUILD)/sensor-publisher: $(BUILD)/obj/publisher/main.o $(BUILD)/libpublisher.a $(BUILD)/libcommon.a \
		$(PAHO_LIB)
	@echo "  LD      $@"
	$(Q)$(PKG_CONFIG) --print-errors --exists $(PUB_PKGS)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PUB_LIBS)
endif

# The copies of Paho's archives: the members StackTrace.o and Heap.o (named
# StackTrace.c.o, Heap.c.o by Paho's CMake) replaced by paho_notrace.o. An
# archive without them (a Paho built for speed) gets the object all the
# same; nothing refers to it then. In the member Socket.o alone, the calls
# to recv, poll, writev, shutdown and close are renamed to paho_sockbuf.o's buffered ones
# (SOCKBUF_SYMS); an archive without that member is one this build does not
# know, and stops it.
SOCKBUF_SYMS := --redefine-sym recv=sw_paho_recv --redefine-sym poll=sw_paho_poll \
	--redefine-sym writev=sw_paho_writev --redefine-sym shutdown=sw_paho_shutdown \
	--redefine-sym close=sw_paho_close
$(BUILD)/paho/notrace.o: common/paho_notrace.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<
$(BUILD)/paho/sockbuf.o: common/paho_sockbuf.c common/paho_sockbuf.h $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<
$(BUILD)/paho/libswnt-paho.a: $(PAHO_TLS_A) $(BUILD)/paho/notrace.o $(BUILD)/paho/sockbuf.o
$(BUILD)/paho/nt-tcp.a: $(PAHO_TCP_A) $(BUILD)/paho/notrace.o $(BUILD)/paho/sockbuf.o
$(BUILD)/paho/libswnt-paho.a $(BUILD)/paho/nt-tcp.a:
	@mkdir -p $(dir $@)
	@echo "  AR      $@ (Paho without StackTrace.o, Heap.o; Socket.o buffered)"
	$(Q)[ -f "$<" ] || { echo "$<: no Paho archive (apt-get install libpaho-mqtt-dev)" >&2; exit 1; }
	$(Q)cp $< $@.tmp && chmod u+w $@.tmp && \
		m=$$($(AR) t $@.tmp | grep -E '^(StackTrace|Heap)(\.c)?\.o$$' || true) && \
		{ [ -z "$$m" ] || $(AR) d $@.tmp $$m; } && \
		so=$$($(AR) t $@.tmp | grep -E '^Socket(\.c)?\.o$$') || \
		{ echo "$<: no member Socket.o: a Paho this build does not know" >&2; exit 1; } && \
		rm -rf $@.d && mkdir $@.d && (cd $@.d && $(AR) x ../$(notdir $@).tmp $$so) && \
		$(OBJCOPY) $(SOCKBUF_SYMS) $@.d/$$so && \
		$(AR) r $@.tmp $@.d/$$so && rm -rf $@.d && \
		$(AR) rs $@.tmp $(wordlist 2,3,$^) && mv $@.tmp $@

# protoc-c generates the remote-write messages at build time
$(PROTO_SRC) $(PROTO_HDR) &: proto/remote.proto
	@mkdir -p $(BUILD)/gen/proto
	@echo "  PROTOC  $<"
	$(Q)protoc-c --c_out=$(BUILD)/gen -I. $<

$(BUILD)/obj/gen/proto/%.o: $(BUILD)/gen/proto/%.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -MMD -MP -c -o $@ $<

$(BUILD)/obj/%.o: %.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# unit tests: tests/unit/<component>/test_x.c links that component's library
$(BUILD)/tests/unit/bridge/%: $(BUILD)/obj/tests/unit/bridge/%.o $(BUILD)/libbridge.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcmocka $(BRIDGE_LIBS)
$(BUILD)/tests/unit/publisher/%: $(BUILD)/obj/tests/unit/publisher/%.o $(BUILD)/libpublisher.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcmocka $(PUB_LIBS)
$(BUILD)/tests/unit/common/%: $(BUILD)/obj/tests/unit/common/%.o $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcmocka $(COMMON_LIBS)

# test and bench tools: one file each
$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(BRIDGE_LIBS)
$(BUILD)/tools/%: $(BUILD)/obj/bench/%.o $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(BRIDGE_LIBS)

tools: $(TOOL_BIN)
$(UNIT_BIN) $(TOOL_BIN): $(PAHO_LIB)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# --- the README's commands -------------------------------------------------
deps:
	$(Q)scripts/deps.sh

# make test: sanitizer build in its own tree, then unit + integration
# (plus the static programs as `make` builds them, which ASan cannot run in:
# tests/integration/test_tls.sh runs the publisher over tcp:// and ssl://,
# test_bridge_https.sh the bridge over mqtts:// and https://)
test: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build/static BRIDGE_STATIC=1 PUBLISHER_STATIC=1 \
		build/static/sensor-publisher build/static/sensor-bridge
	$(Q)$(MAKE) --no-print-directory BUILD=build/san SAN=1 \
		STATIC_PUBLISHER=$(CURDIR)/build/static/sensor-publisher \
		STATIC_BRIDGE=$(CURDIR)/build/static/sensor-bridge run-tests

run-tests: all $(UNIT_BIN) $(TOOL_BIN)
	$(Q)BUILD=$(BUILD) STATIC_PUBLISHER=$(STATIC_PUBLISHER) STATIC_BRIDGE=$(STATIC_BRIDGE) \
		tests/run.sh

# a cross build's unit tests run under qemu-user when it is installed
# (qemu-user-static; the target's libraries must be installed, multiarch)
QEMU_ARCH := $(patsubst i%86,i386,$(patsubst arm%,arm,$(firstword $(subst -, ,$(TRIPLET)))))
TEST_RUNNER ?= $(if $(CROSS),$(shell command -v qemu-$(QEMU_ARCH)-static || command -v qemu-$(QEMU_ARCH)))
unit-bins: $(UNIT_BIN)
unit: $(UNIT_BIN)
	$(Q)if [ -n "$(CROSS)" ] && [ -z "$(TEST_RUNNER)" ]; then \
		echo "make unit: a cross build's tests need qemu-$(QEMU_ARCH)-static (apt-get install qemu-user-static) or TEST_RUNNER=..." >&2; \
		exit 1; fi
	$(Q)BUILD=$(BUILD) TEST_RUNNER='$(TEST_RUNNER)' tests/run.sh unit

integration: all $(TOOL_BIN)
	$(Q)BUILD=$(BUILD) tests/run.sh integration

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) scripts/demo.sh

# the bench measures what the images and releases ship: both programs static
bench: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build/bench BRIDGE_STATIC=1 PUBLISHER_STATIC=1 \
		CFLAGS='-O2 -g' all tools
	$(Q)BUILD=build/bench bench/run.sh

# the images' and releases' build: both programs static (BRIDGE_STATIC=1
# compiles curl, libmicrohttpd and cJSON from Debian's sources once per target)
release:
	$(Q)$(MAKE) --no-print-directory BUILD=$(if $(filter command line,$(origin BUILD)),$(BUILD),$(BUILD)/release) \
		BRIDGE_STATIC=1 PUBLISHER_STATIC=1 all

# every supported target in Debian 12 and 13 chroots, cross builds under qemu
# (scripts/matrix.sh --help; root, minutes the first time)
matrix:
	$(Q)scripts/matrix.sh $(MATRIX_ARGS)

# opt-in hardware test on a Raspberry Pi (or gpio-sim): see README
check-hw: all
	$(Q)BUILD=$(BUILD) tests/hw/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	@if [ -d systemd ]; then install -d $(DESTDIR)$(PREFIX)/lib/systemd/system && \
		install -m 0644 systemd/*.service $(DESTDIR)$(PREFIX)/lib/systemd/system/; fi

clean:
	rm -rf build build-*

# make print-VAR: a variable's value, for the tests (e.g. print-PUB_PKGS)
print-%:
	@echo $($*)

# --- fuzzing: libFuzzer targets, one file each, tests/fuzz/fuzz_<name>.c ----
#   make fuzz          builds every target into build/fuzz/ and runs each for
#                      FUZZ_SECONDS (60) on tests/fuzz/corpus/<name>/ (new inputs
#                      go to build/fuzz/corpus/<name>/, crashes to build/fuzz/crashes/)
#   make fuzz-replay   runs each target once over its committed corpus (-runs=0);
#                      make test does it through tests/integration/test_fuzz_replay.sh
# FUZZ_TARGETS=reading picks targets, FUZZ_ARGS adds libFuzzer flags. The
# project's objects are built with clang and -fsanitize=fuzzer-no-link plus
# ASan/UBSan in their own tree, the targets linked with -fsanitize=fuzzer.
# Without clang, the targets are built with gcc and ASan/UBSan and linked with
# tests/fuzz/replay_main.c, a driver that only replays: fuzz-replay works,
# fuzz does not. A new tests/fuzz/fuzz_<name>.c is picked up as it is.
FUZZ_SECONDS ?= 60
FUZZ_DIR     := build/fuzz
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_ARGS    ?=
FUZZ_CLANG   := $(shell command -v clang 2>/dev/null)
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ifneq ($(FUZZ_CLANG),)
FUZZ_MAKE    := CC=clang SANFLAGS='$(FUZZ_SAN) -fsanitize=fuzzer-no-link' FUZZ_LINK=-fsanitize=fuzzer
else
FUZZ_MAKE    := CC=gcc SANFLAGS='$(FUZZ_SAN)' FUZZ_LINK=replay
endif
FUZZ_LINK    ?= replay

.PHONY: fuzz-bins fuzz-replay
fuzz-bins:
	$(Q)$(MAKE) --no-print-directory BUILD=$(FUZZ_DIR) $(FUZZ_MAKE) PUBLISHER_STATIC=0 \
		$(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

# (these rules serve the make above, where BUILD is $(FUZZ_DIR))
FUZZ_DRIVER = $(if $(filter replay,$(FUZZ_LINK)),$(BUILD)/obj/tests/fuzz/replay_main.o)
$(BUILD)/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_DRIVER) $(BUILD)/libbridge.a \
		$(BUILD)/libpublisher.a $(BUILD)/libcommon.a $(PAHO_LIB)
	@echo "  LD      $@"
	$(Q)$(CC) $(FUZZ_SAN) $(filter-out replay,$(FUZZ_LINK)) $(ARCH_FLAGS) $(LDFLAGS) -o $@ $^ \
		$(call pc_libs,$(BRIDGE_PKGS) $(PUB_PKGS)) -lsnappy $(COMMON_LIBS)
$(BUILD)/obj/tests/fuzz/%.o: PKG_CFLAGS = $(call pc_cflags,$(BRIDGE_PKGS) $(PUB_PKGS))
$(patsubst tests/fuzz/%.c,$(BUILD)/obj/tests/fuzz/%.o,$(wildcard tests/fuzz/*.c)): | $(PROTO_HDR)

fuzz: fuzz-bins
	$(Q)$(if $(FUZZ_CLANG),,echo "make fuzz needs clang (make fuzz-replay does not)" >&2; exit 1;) \
	mkdir -p $(FUZZ_DIR)/crashes; rc=0; \
	for n in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_DIR)/corpus/$$n tests/fuzz/corpus/$$n; \
		echo "  FUZZ    $$n ($(FUZZ_SECONDS) s)"; \
		$(FUZZ_DIR)/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_DIR)/crashes/$$n- $(FUZZ_ARGS) \
			$(FUZZ_DIR)/corpus/$$n tests/fuzz/corpus/$$n || rc=1; \
	done; exit $$rc

fuzz-replay: fuzz-bins
	$(Q)rc=0; for n in $(FUZZ_TARGETS); do \
		[ -d tests/fuzz/corpus/$$n ] || { echo "  REPLAY  $$n: no corpus" >&2; rc=1; continue; }; \
		if $(FUZZ_DIR)/fuzz_$$n -runs=0 tests/fuzz/corpus/$$n >$(FUZZ_DIR)/replay-$$n.log 2>&1; \
		then echo "  REPLAY  $$n ($$(ls tests/fuzz/corpus/$$n | wc -l) inputs)"; \
		else echo "  REPLAY  $$n FAILED"; tail -n 40 $(FUZZ_DIR)/replay-$$n.log; rc=1; fi; \
	done; exit $$rc

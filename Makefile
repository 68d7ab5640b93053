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
BUILD      ?= build
SAN        ?= 0
# the publisher is linked statically unless sanitizers are on (ASan needs a
# dynamic program) or PUBLISHER_STATIC=0
PUBLISHER_STATIC ?= $(if $(filter 1,$(SAN)),0,1)
# the bridge too; it links libcurl, libmicrohttpd and cJSON built from Debian's
# sources with only what it uses (scripts/static-deps.sh, into DEPS_DIR, shared
# by every build tree)
BRIDGE_STATIC ?= $(if $(filter 1,$(SAN)),0,1)
DEPS_DIR   ?= build/deps
CC         ?= cc
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

PKGS := libcurl libcjson libprotobuf-c zlib libgpiod
ALL_CFLAGS := -std=gnu11 $(WARN) $(SANFLAGS) -D_GNU_SOURCE -I. -I$(BUILD)/gen \
	-DSW_VERSION='"$(VERSION)"' $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
ALL_LDFLAGS := $(SANFLAGS) $(LDFLAGS)
LIBS := -lpaho-mqtt3as $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lsnappy \
	-lmicrohttpd -lpthread -lm

# --- sources: every .c under a component dir belongs to it; main.c is the program
COMMON_SRC    := $(wildcard common/*.c)
BRIDGE_SRC    := $(filter-out bridge/main.c,$(wildcard bridge/*.c bridge/sinks/*.c))
PUBLISHER_SRC := $(filter-out publisher/main.c,$(wildcard publisher/*.c publisher/drivers/*.c))
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

.PHONY: all test unit integration demo bench install deps clean tools check-hw
.DEFAULT_GOAL := all
.SECONDARY:

all: $(BINS)

$(BUILD)/libcommon.a: $(COMMON_OBJ)
	$(Q)ar rcs $@ $^
$(BUILD)/libbridge.a: $(BRIDGE_OBJ)
	$(Q)ar rcs $@ $^
$(BUILD)/libpublisher.a: $(PUBLISHER_OBJ)
	$(Q)ar rcs $@ $^

# glibc's linker notes about getaddrinfo/dlopen in static programs are
# filtered out of static links (only those): names resolve through /etc/hosts
# and DNS, which glibc 2.34+ has built in; other NSS modules would need the
# same glibc at run time.
define static_link
	$(Q)$(CC) -static $(ALL_LDFLAGS) $(1) 2>$@.ld; rc=$$?; \
		grep -v -e 'in statically linked applications requires at runtime' \
			-e ': in function `' $@.ld >&2; rm -f $@.ld; exit $$rc
endef

ifeq ($(BRIDGE_STATIC),1)
# The bridge, linked statically (see "Footprint" in README.md). Debian's
# shared libcurl maps and initialises GnuTLS, OpenSSL, krb5, LDAP, SSH, RTMP...
# which alone is 9.7 MiB resident; this one has HTTP(S) over OpenSSL and zlib.
$(DEPS_DIR)/.stamp: scripts/static-deps.sh
	$(Q)scripts/static-deps.sh $(DEPS_DIR)
$(BUILD)/sensor-bridge: $(BUILD)/obj/bridge/main.o $(BUILD)/libbridge.a $(BUILD)/libcommon.a \
		$(DEPS_DIR)/.stamp
	@echo "  LD      $@ (static)"
	$(call static_link,-o $@ $(filter-out $(DEPS_DIR)/.stamp,$^) -L$(DEPS_DIR)/lib \
		-lcurl -lmicrohttpd -lcjson -lprotobuf-c -lsnappy -lstdc++ -lpaho-mqtt3as \
		-lz -lm -lpthread -lc -lssl -lcrypto)
else
$(BUILD)/sensor-bridge: $(BUILD)/obj/bridge/main.o $(BUILD)/libbridge.a $(BUILD)/libcommon.a
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
endif
ifeq ($(PUBLISHER_STATIC),1)
# The publisher, linked statically (see "Footprint" in README.md): glibc and
# the libraries' own code, no shared objects to map and relocate. Two Paho
# variants (common/paho.h): plain for tcp://, the TLS one renamed for ssl://,
# so OpenSSL is only touched by a TLS connection. -lc comes before the TLS
# libraries so that the C library's code sits next to ours, not past OpenSSL's;
# publisher/static.ld keeps OpenSSL's sections apart from both.
# Both get their symbols prefixed (swtcp_, swtls_): they define the same names,
# and the plain one also its own SHA1_*, which libcrypto defines too.
$(BUILD)/paho/libsw%-paho.a: PAHO_A = $(shell $(CC) -print-file-name=$(PAHO_LIB_$*))
PAHO_LIB_tcp := libpaho-mqtt3a.a
PAHO_LIB_tls := libpaho-mqtt3as.a
$(BUILD)/paho/libsw%-paho.a:
	@mkdir -p $(dir $@)
	@echo "  OBJCOPY $@"
	$(Q)nm -g --defined-only $(PAHO_A) 2>/dev/null | awk 'NF == 3 { print $$3, "sw$*_" $$3 }' | sort -u >$@.syms
	$(Q)objcopy --redefine-syms=$@.syms $(PAHO_A) $@
$(BUILD)/obj/common/paho_split.o: common/paho.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -DSW_PAHO_SPLIT -MMD -MP -c -o $@ $<
$(BUILD)/sensor-publisher: $(BUILD)/obj/publisher/main.o $(BUILD)/libpublisher.a \
		$(BUILD)/obj/common/paho_split.o $(BUILD)/libcommon.a \
		$(BUILD)/paho/libswtcp-paho.a $(BUILD)/paho/libswtls-paho.a publisher/static.ld
	@echo "  LD      $@ (static)"
	$(call static_link,-Wl$(,)-T$(,)publisher/static.ld -o $@ \
		$(filter %.o,$^) $(BUILD)/libpublisher.a \
		$(BUILD)/libcommon.a $(BUILD)/paho/libswtcp-paho.a -lgpiod -lz -lm -lpthread -lc \
		$(BUILD)/paho/libswtls-paho.a -lssl -lcrypto)
else
$(BUILD)/sensor-publisher: $(BUILD)/obj/publisher/main.o $(BUILD)/libpublisher.a $(BUILD)/libcommon.a
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
endif

# protoc-c generates the remote-write messages at build time
$(PROTO_SRC) $(PROTO_HDR) &: proto/remote.proto
	@mkdir -p $(BUILD)/gen/proto
	@echo "  PROTOC  $<"
	$(Q)protoc-c --c_out=$(BUILD)/gen -I. $<

$(BUILD)/obj/gen/proto/%.o: $(BUILD)/gen/proto/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -MMD -MP -c -o $@ $<

$(BUILD)/obj/%.o: %.c | $(PROTO_HDR)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# unit tests: tests/unit/<component>/test_x.c links that component's library
$(BUILD)/tests/unit/bridge/%: $(BUILD)/obj/tests/unit/bridge/%.o $(BUILD)/libbridge.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcmocka $(LIBS)
$(BUILD)/tests/unit/publisher/%: $(BUILD)/obj/tests/unit/publisher/%.o $(BUILD)/libpublisher.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcmocka $(LIBS)
$(BUILD)/tests/unit/common/%: $(BUILD)/obj/tests/unit/common/%.o $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcmocka $(LIBS)

# test and bench tools: one file each
$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
$(BUILD)/tools/%: $(BUILD)/obj/bench/%.o $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

tools: $(TOOL_BIN)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# --- the README's commands -------------------------------------------------
deps:
	$(Q)scripts/deps.sh

# make test: sanitizer build in its own tree, then unit + integration
# (plus the static programs as `make` builds them, which ASan cannot run in:
# tests/integration/test_tls.sh runs the publisher over tcp:// and ssl://,
# test_bridge_https.sh the bridge over mqtts:// and https://)
test: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build/static build/static/sensor-publisher \
		build/static/sensor-bridge
	$(Q)$(MAKE) --no-print-directory BUILD=build/san SAN=1 \
		STATIC_PUBLISHER=$(CURDIR)/build/static/sensor-publisher \
		STATIC_BRIDGE=$(CURDIR)/build/static/sensor-bridge run-tests

run-tests: all $(UNIT_BIN) $(TOOL_BIN)
	$(Q)BUILD=$(BUILD) STATIC_PUBLISHER=$(STATIC_PUBLISHER) STATIC_BRIDGE=$(STATIC_BRIDGE) \
		tests/run.sh

unit: $(UNIT_BIN)
	$(Q)BUILD=$(BUILD) tests/run.sh unit

integration: all $(TOOL_BIN)
	$(Q)BUILD=$(BUILD) tests/run.sh integration

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) scripts/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build/bench CFLAGS='-O2 -g' all tools
	$(Q)BUILD=build/bench bench/run.sh

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

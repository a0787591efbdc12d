# hilt - build, test and demo.
#   make            build/hilt (release, -O2)
#   make san        build/san/hilt and libhilt with ASan + UBSan (used by the tests)
#   make test       every test: unit (cmocka, sanitized), integration, fuzz smoke
#   make demo       install missing packages, build, run the lab and diagnose it
#   make fuzz       libFuzzer targets in build/fuzz/
#   make format     clang-format the sources
# BUILD=dir puts all outputs elsewhere (two builds can run side by side).

BUILD ?= build
V ?= 0
ifeq ($(V),0)
Q := @
E = @printf '  %-6s %s\n' $(1) $(2);
else
Q :=
E =
endif
CC ?= cc
CLANG ?= clang

PKGS := openssl libevent libevent_openssl libevent_pthreads jansson yaml-0.1 sqlite3 libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
# libpq is dlopen()ed by src/store/postgres.c when a postgres:// store is opened
# (its dependency chain costs every command ~3 ms at start), so it keeps its
# cflags but is not linked; unit tests that talk to PostgreSQL directly link it.
PKG_LIBS := $(shell pkg-config --libs $(filter-out libpq,$(PKGS))) -ldl -lpthread -lm
PQ_LIBS := $(shell pkg-config --libs libpq)

# Bounded snprintf of human-readable text may truncate by design, so format-truncation is off.
WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation -Wvla \
        -Wstrict-prototypes -Wmissing-prototypes
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -Isrc -I$(BUILD)/gen $(PKG_CFLAGS) -MMD -MP
OPT ?= -O2 -g
SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -Wno-unknown-warning-option

# EXCLUDE="policy store" leaves modules (and their cli/NAME*.c) out of a build,
# for working while someone else's module is half-edited in the same tree.
EXCLUDE ?=
EXCLUDED := $(foreach m,$(EXCLUDE),src/$(m)/% src/cli/$(m)%)
LIB_SRCS := $(sort $(filter-out src/cli/% $(EXCLUDED),$(wildcard src/*/*.c)))
CLI_SRCS := $(sort $(filter-out $(EXCLUDED),$(wildcard src/cli/*.c)))
# data/catalogue.json is compiled into a table by tools/gencat.c, not embedded as text.
DATA_FILES := $(sort $(filter-out data/catalogue.json,$(wildcard data/*)))
GEN_SRC := $(BUILD)/gen/embedded.c
CAT_SRC := $(BUILD)/gen/catalogue_table.c
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))

GEN_OBJS = $(1)/gen/embedded.o $(1)/gen/catalogue_table.o
REL_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(call GEN_OBJS,$(BUILD)/obj)
SAN_OBJS := $(LIB_SRCS:%.c=$(BUILD)/san/obj/%.o) $(call GEN_OBJS,$(BUILD)/san/obj)
FUZZ_OBJS := $(LIB_SRCS:%.c=$(BUILD)/fuzz/obj/%.o) $(call GEN_OBJS,$(BUILD)/fuzz/obj)
CLI_REL_OBJS := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_SAN_OBJS := $(CLI_SRCS:%.c=$(BUILD)/san/obj/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/san/tests/%)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)

.PHONY: all san unit fuzz test demo format clean deps check-deps bench
all: $(BUILD)/hilt

$(BUILD)/tools/embed: tools/embed.c
	@mkdir -p $(@D)
	$(call E,CC,$@)$(CC) -O1 -o $@ $<

# The catalogue of causes becomes a C table at build time (no JSON parsing at run time);
# gencat fails the build when data/catalogue.json and HILT_CODES disagree.
$(BUILD)/tools/gencat: tools/gencat.c src/diag/catalogue.h
	@mkdir -p $(@D)
	$(call E,CC,$@)$(CC) -O1 -Isrc $(shell pkg-config --cflags jansson) -o $@ $< $(shell pkg-config --libs jansson)

$(CAT_SRC): $(BUILD)/tools/gencat data/catalogue.json
	@mkdir -p $(@D)
	$(call E,GEN,$@)$(BUILD)/tools/gencat data/catalogue.json $@

$(GEN_SRC): $(BUILD)/tools/embed $(DATA_FILES)
	@mkdir -p $(@D)
	$(call E,GEN,$@)$(BUILD)/tools/embed $@ $(DATA_FILES)

# release
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(call E,CC,$@)$(CC) $(BASE_CFLAGS) $(OPT) -c -o $@ $<
$(BUILD)/obj/gen/catalogue_table.o: $(CAT_SRC)
	@mkdir -p $(@D)
	$(call E,CC,$@)$(CC) $(BASE_CFLAGS) -Wno-missing-prototypes $(OPT) -c -o $@ $<
$(BUILD)/obj/gen/embedded.o: $(GEN_SRC)
	@mkdir -p $(@D)
	$(call E,CC,$@)$(CC) $(BASE_CFLAGS) -Wno-missing-prototypes $(OPT) -c -o $@ $<
$(BUILD)/libhilt.a: $(REL_OBJS)
	@rm -f $@
	$(call E,AR,$@)ar rcs $@ $^
$(BUILD)/hilt: $(CLI_REL_OBJS) $(BUILD)/libhilt.a
	$(call E,LD,$@)$(CC) $(OPT) -o $@ $(CLI_REL_OBJS) $(BUILD)/libhilt.a $(PKG_LIBS)

# sanitized (tests)
$(BUILD)/san/obj/%.o: %.c
	@mkdir -p $(@D)
	$(call E,CC,$@)$(CC) $(BASE_CFLAGS) $(SAN_FLAGS) -c -o $@ $<
$(BUILD)/san/obj/gen/catalogue_table.o: $(CAT_SRC)
	@mkdir -p $(@D)
	$(call E,CC,$@)$(CC) $(BASE_CFLAGS) -Wno-missing-prototypes $(SAN_FLAGS) -c -o $@ $<
$(BUILD)/san/obj/gen/embedded.o: $(GEN_SRC)
	@mkdir -p $(@D)
	$(call E,CC,$@)$(CC) $(BASE_CFLAGS) -Wno-missing-prototypes $(SAN_FLAGS) -c -o $@ $<
$(BUILD)/san/libhilt.a: $(SAN_OBJS)
	@rm -f $@
	$(call E,AR,$@)ar rcs $@ $^
$(BUILD)/san/hilt: $(CLI_SAN_OBJS) $(BUILD)/san/libhilt.a
	$(call E,LD,$@)$(CC) $(SAN_FLAGS) -o $@ $(CLI_SAN_OBJS) $(BUILD)/san/libhilt.a $(PKG_LIBS)
$(BUILD)/san/tests/%: tests/unit/%.c $(BUILD)/san/libhilt.a
	@mkdir -p $(@D)
	$(call E,CC,$@)$(CC) $(BASE_CFLAGS) -Wno-missing-prototypes $(SAN_FLAGS) -o $@ $< $(BUILD)/san/libhilt.a \
	  $(shell pkg-config --libs cmocka) $(PKG_LIBS) $(PQ_LIBS)

san: $(BUILD)/san/hilt $(UNIT_BINS)
unit: $(UNIT_BINS)

# fuzz (clang + libFuzzer)
$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(call E,CLANG,$@)$(CLANG) $(BASE_CFLAGS) $(FUZZ_FLAGS) -c -o $@ $<
$(BUILD)/fuzz/obj/gen/catalogue_table.o: $(CAT_SRC)
	@mkdir -p $(@D)
	$(call E,CLANG,$@)$(CLANG) $(BASE_CFLAGS) -Wno-missing-prototypes $(FUZZ_FLAGS) -c -o $@ $<
$(BUILD)/fuzz/obj/gen/embedded.o: $(GEN_SRC)
	@mkdir -p $(@D)
	$(call E,CLANG,$@)$(CLANG) $(BASE_CFLAGS) -Wno-missing-prototypes $(FUZZ_FLAGS) -c -o $@ $<
$(BUILD)/fuzz/libhilt.a: $(FUZZ_OBJS)
	@rm -f $@
	$(call E,AR,$@)ar rcs $@ $^
$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/fuzz/libhilt.a
	$(call E,CLANG,$@)$(CLANG) $(BASE_CFLAGS) -Wno-missing-prototypes -Wno-unknown-warning-option -O1 -g -fsanitize=fuzzer,address,undefined \
	  -o $@ $< $(BUILD)/fuzz/libhilt.a $(PKG_LIBS)
fuzz: $(FUZZ_BINS)

check-deps:
	@scripts/install-deps.sh --check >/dev/null 2>&1 || { \
	  echo "make: missing system packages; run scripts/install-deps.sh (or make demo)"; \
	  scripts/install-deps.sh --check; exit 2; }

test: check-deps
	$(MAKE) --no-print-directory all san fuzz
	BUILD=$(BUILD) tests/run.sh

demo:
	scripts/install-deps.sh
	$(MAKE) --no-print-directory all
	$(BUILD)/hilt lab --check

bench: all
	bench/probe.sh

format:
	clang-format -i $(LIB_SRCS) $(CLI_SRCS) $(wildcard src/*/*.h) $(UNIT_SRCS) $(FUZZ_SRCS)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

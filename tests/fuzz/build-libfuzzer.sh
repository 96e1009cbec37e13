#!/bin/sh
# Builds every fuzz harness for libFuzzer, with AddressSanitizer and UBSan,
# into OUT (default build/fuzz, which git ignores): the library (and, for the harnesses that
# need them, the command's parsers) compiled with clang and coverage, then
# one binary per harness, OUT/fuzz_NAME. Not part of make check, which
# replays the saved corpora without libFuzzer (tests/fuzz/run-corpora.sh).
#
# Needs clang (Debian: apt-get install clang) and a configured build tree
# for include/agentauthz/version.h (make all creates build/).
#
#   tests/fuzz/build-libfuzzer.sh [OUT]
#   build/fuzz/fuzz_policy -max_total_time=120 -dict=tests/fuzz/policy.dict tests/fuzz/corpus/policy
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-build/fuzz}
CC=${CC:-clang}
version_dir=${VERSION_DIR:-$src/build/include}
if [ ! -f "$version_dir/agentauthz/version.h" ]; then
    echo "build-libfuzzer.sh: $version_dir/agentauthz/version.h missing: run make all first" >&2
    exit 2
fi
mkdir -p "$out/obj"
SAN="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
CPPFLAGS="-D_GNU_SOURCE -DAZ_LIBFUZZER -I$version_dir -I$src/include -I$src/lib -I$src/cli"
LIBS="$(pkg-config --libs yaml-0.1 libsodium 2>/dev/null || echo -lyaml -lsodium) -lpthread -lm"

# The library and the command's parsers, instrumented for coverage (and the
# reference link scanner that fuzz_extract compares with).
objs=""
for f in "$src"/lib/*.c "$src"/cli/replay_line.c "$src"/cli/testfile.c "$src"/cli/ytree.c \
    "$src"/cli/ytree_value.c "$src"/cli/util.c "$src"/tests/extract_ref.c; do
    o="$out/obj/$(basename "$(dirname "$f")")_$(basename "$f" .c).o"
    $CC $SAN -fsanitize=fuzzer-no-link $CPPFLAGS -c "$f" -o "$o"
    objs="$objs $o"
done

for h in "$src"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$h" .c)
    $CC $SAN -fsanitize=fuzzer $CPPFLAGS "$h" $objs $LIBS -o "$out/$name"
    echo "built $out/$name"
done

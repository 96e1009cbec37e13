#!/bin/sh
# Finds out whether ThreadSanitizer programs run on this machine, and how.
# Prints the command prefix to run them with (possibly empty) and exits 0,
# or explains on stderr and exits 1 when they cannot run here.
#
# TSan maps its shadow memory at fixed addresses; on kernels with high
# mmap randomisation (vm.mmap_rnd_bits = 32, the default on recent kernels)
# a program can start at an address TSan does not expect and die with
# "unexpected memory mapping", at random. Running without address space
# randomisation (setarch -R) avoids that, so it is preferred when it works.
set -u

cc=${CC:-gcc}
dir=$(mktemp -d "${TMPDIR:-/tmp}/az-tsan.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT

cat >"$dir/probe.c" <<'EOF'
#include <pthread.h>
static int shared;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *work(void *arg)
{
    pthread_mutex_lock(&lock);
    shared++;
    pthread_mutex_unlock(&lock);
    return arg;
}
int main(void)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        if (pthread_create(&t[i], 0, work, 0) != 0)
            return 1;
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], 0);
    return shared == 4 ? 0 : 1;
}
EOF

if ! $cc -fsanitize=thread -g -O1 -pthread "$dir/probe.c" -o "$dir/probe" \
    >"$dir/cc.log" 2>&1; then
    echo "tsan: $cc cannot build with -fsanitize=thread:" >&2
    sed 's/^/tsan:   /' "$dir/cc.log" >&2
    exit 1
fi

# Several runs, because the mapping failure is random.
runs_ok()
{
    for _ in 1 2 3; do
        "$@" "$dir/probe" >"$dir/run.log" 2>&1 || return 1
    done
    return 0
}

arch=$(uname -m)
if command -v setarch >/dev/null 2>&1 && runs_ok setarch "$arch" -R; then
    echo "setarch $arch -R"
    exit 0
fi
if runs_ok env; then
    echo ""
    exit 0
fi
echo "tsan: a ThreadSanitizer program does not run here:" >&2
sed 's/^/tsan:   /' "$dir/run.log" >&2
exit 1

#!/bin/bash
# Every libFuzzer target (fuzz/, docs/fuzzing.md) for 5 s from its seed corpus: a crash,
# a sanitizer finding or a hang fails the test. Needs clang's libFuzzer runtime
# (libclang-rt-dev); without it the test is skipped. Longer runs: fuzz/run SECONDS.
# timeout: 600
set -u
repo=${SM_REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! command -v clang >/dev/null ||
    ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
    clang -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
    echo "clang with libFuzzer (libclang-rt-dev) is not installed"
    exit 77
fi
"$repo/fuzz/run" 5

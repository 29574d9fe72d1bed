#!/bin/sh
# VM entry used by tests/host/10-static.sh: the whole guest suite with every
# guest program and CLI built dynamically with ASan+UBSan. The sanitized
# binaries and the shared libraries they need (glibc, libasan, libubsan...)
# come in /payload/build/static/asan/{bin,lib}; the initramfs root is
# writable, so the dynamic loader and libraries are installed where the
# binaries look for them. Output: run.sh's result lines, unchanged.
ASAN_DIR=/payload/build/static/asan
mkdir -p /lib64 /lib/x86_64-linux-gnu
cp "$ASAN_DIR"/lib/* /lib/x86_64-linux-gnu/
ln -sf /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 /lib64/ld-linux-x86-64.so.2
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu
# A sanitizer report exits 99 (UBSan: no recovery) and prints to stderr,
# which the suites' output captures; the host also greps for the reports.
export ASAN_OPTIONS=exitcode=99:detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=exitcode=99:print_stacktrace=1:halt_on_error=1
export BIN="$ASAN_DIR/bin"
# Sanitized programs are 64-bit only (no 32-bit sanitizer runtimes here).
export MSGSLOT_NO_32BIT=1
export PATH="$BIN:$PATH"
# Usage error (exit 1) proves the loader, libc and sanitizer runtimes load.
"$BIN/message_sender" > /dev/null 2>&1
if [ $? -ne 1 ]; then
    echo "not ok asan-guest/loader - sanitized binaries do not run: $("$BIN/message_sender" 2>&1 | head -n1)"
    exit 1
fi
# ...and that the sanitizer runtime is really there.
if ! ASAN_OPTIONS=help=1 "$BIN/message_sender" 2>&1 | grep -q AddressSanitizer; then
    echo "not ok asan-guest/runtime - no AddressSanitizer runtime in the sanitized binaries"
    exit 1
fi
exec sh "$GUEST/run.sh"

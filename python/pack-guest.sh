#!/usr/bin/env bash
# Copies into an initramfs tree ROOT what python/ needs to run in the test
# VM: the host's /usr/bin/python3, the shared libraries it loads and only
# the standard-library files the package and its test import (a few hundred
# KiB, not the whole library), all at their host paths; the package as
# `pip install` installs it (from a copy of python/, offline, with the
# system's setuptools) into ROOT/payload/python-site; python/*.py and
# README's Python example (readme_example.py) into ROOT/payload/python.  tests/vm/boot.sh calls it.
#
#   python/pack-guest.sh ROOT
set -euo pipefail

root=${1:?usage: pack-guest.sh ROOT}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=/usr/bin/python3
[[ -x $py ]] || { echo "pack-guest.sh: no $py (apt-get install python3-minimal)" >&2; exit 1; }

# copy <absolute path>: the file's content at the same path under ROOT.
copy() {
    mkdir -p "$root$(dirname "$1")"
    cp -L "$1" "$root$1"
}

exe=$(readlink -f "$py")
copy "$exe"
ln -sfn "$(basename "$exe")" "$root/usr/bin/python3"
while read -r lib; do
    copy "$lib"
done < <(ldd "$exe" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')

# Every module the scripts import at top level, and what those import in
# turn, as a fresh interpreter resolves them (-I -S, as in the guest).
# os.py is the interpreter's landmark for finding its library.
modules=$("$py" -I -S - "$top"/python/*.py "$top"/python/message_slot/*.py <<'PY'
import ast, os, sys
local = {os.path.splitext(os.path.basename(p))[0] for p in sys.argv[1:]}
local.add("message_slot")
names = {"os", "encodings.ascii", "encodings.latin_1"}
for path in sys.argv[1:]:
    with open(path) as f:
        for node in ast.parse(f.read()).body:
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
print(",".join(sorted(names - local)))
PY
)
while read -r file; do
    copy "$file"
done < <("$py" -I -S -c "import sys, $modules
for m in list(sys.modules.values()):
    f = getattr(m, '__file__', None)
    if f and f.startswith(sys._stdlib_dir):
        print(f)")
# The landmark of the platform-dependent part (extension modules).
mkdir -p "$root/$(dirname "$("$py" -I -S -c 'import mmap; print(mmap.__file__)')")"

mkdir -p "$root/payload/python"
cp "$top"/python/*.py "$root/payload/python/"
# README's "A slot from Python" example, as README shows it.
awk '/^```python$/ { on = 1; next } on && /^```/ { exit } on' "$top/README.md" \
    > "$root/payload/python/readme_example.py"

# pip builds in the source directory: build a copy, never the tree itself.
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
cp -r "$top/python/." "$src/"
rm -rf "$src/build" "$src"/*.egg-info
if ! "$py" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    --no-build-isolation --no-deps --no-index --no-compile \
    --target "$root/payload/python-site" "$src" > "$src.log" 2>&1; then
    cat "$src.log" >&2
    rm -f "$src.log"
    echo "pack-guest.sh: pip install of python/ failed (apt-get install python3-pip python3-setuptools python3-wheel)" >&2
    exit 1
fi
rm -f "$src.log"

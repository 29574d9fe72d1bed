#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The module-parameter tables of README.md and man/message_slot.4, from
the code: every module_param*() of message_slot.c with its sysfs mode and
its MODULE_PARM_DESC text (what modinfo prints), the default taken from
the text's "(default X)".

    man/gen-params.py            rewrite both tables in place (make docs)
    man/gen-params.py --check    exit 1, naming each file, if one differs
    man/gen-params.py --list     print "name<TAB>mode<TAB>description" lines

Each table sits between marker lines ("<!-- params -->" ... "<!-- /params
-->" in README.md, '.\\" params' ... '.\\" /params' in the man page).
"""

import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(TOP, "message_slot.c")
README = os.path.join(TOP, "README.md")
MANPAGE = os.path.join(TOP, "man", "message_slot.4")

_STRINGS = re.compile(r'"((?:[^"\\]|\\.)*)"')
_DECL = re.compile(
    r"\bmodule_param(?:_named)?\s*\(\s*(\w+)\s*,[^;]*?,\s*(0[0-7]*)\s*\)\s*;"
    r"|\bmodule_param_cb\s*\(\s*(\w+)\s*,[^;]*?,\s*(0[0-7]*)\s*\)\s*;", re.S)
_DESC = re.compile(r"\bMODULE_PARM_DESC\s*\(\s*(\w+)\s*,(.*?)\)\s*;", re.S)
_DEFAULT = re.compile(r"\s*\(([^()]*?)(?:,\s*)?\bdefault ([^()]+)\)")


def params(source=SOURCE):
    """[(name, writable, description, default or None)] in source order."""
    with open(source) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    descs = {m.group(1): "".join(_STRINGS.findall(m.group(2)))
             .encode().decode("unicode_escape")
             for m in _DESC.finditer(text)}
    found = []
    for m in _DECL.finditer(text):
        name = m.group(1) or m.group(3)
        mode = int(m.group(2) or m.group(4), 8)
        if name not in descs:
            sys.exit(f"gen-params.py: {name} has no MODULE_PARM_DESC")
        desc = descs[name]
        default = None
        d = _DEFAULT.search(desc)
        if d:
            default = d.group(2).strip()
            rest = d.group(1).strip()
            desc = desc[:d.start()] + (f" ({rest})" if rest else "") + desc[d.end():]
        found.append((name, bool(mode & 0o222), desc.strip(), default))
    return found


def readme_table(plist):
    rows = ["| parameter | default | writable at run time | meaning |",
            "|---|---|---|---|"]
    for name, rw, desc, default in plist:
        rows.append(f"| `{name}` | {default or '-'} | {'yes' if rw else 'no (read-only)'} "
                    f"| {desc} |")
    return rows


def _roff(text):
    return text.replace("\\", "\\\\").replace("-", "\\-").replace("'", "\\(aq")


def man_table(plist):
    lines = []
    for name, rw, desc, default in plist:
        attrs = ", ".join(a for a in ("rw" if rw else "read\\-only",
                                      f"default {_roff(default)}" if default else "") if a)
        lines += [".TP", f'.BR {name} " ({attrs})"', _roff(desc) + "."]
    return lines


def splice(path, begin, end, body):
    """path's text with the lines between the markers replaced by body."""
    with open(path) as f:
        lines = f.read().split("\n")
    try:
        a = lines.index(begin)
        b = lines.index(end, a)
    except ValueError:
        sys.exit(f"gen-params.py: no '{begin}' ... '{end}' lines in {path}")
    return "\n".join(lines[:a + 1] + body + lines[b:])


def main(argv):
    if argv[1:] not in ([], ["--check"], ["--list"]):
        print("usage: gen-params.py [--check | --list]\n"
              "  (none)   write the tables into README.md and man/message_slot.4\n"
              "  --check  exit 1 if either table differs from message_slot.c\n"
              "  --list   print name, rw|ro and description of each parameter",
              file=sys.stderr)
        return 0 if argv[1:] in (["-h"], ["--help"]) else 2
    plist = params()
    if argv[1:] == ["--list"]:
        for name, rw, desc, _ in plist:
            print(f"{name}\t{'rw' if rw else 'ro'}\t{desc}")
        return 0
    targets = [(README, "<!-- params -->", "<!-- /params -->", readme_table(plist)),
               (MANPAGE, '.\\" params', '.\\" /params', man_table(plist))]
    stale = []
    for path, begin, end, body in targets:
        new = splice(path, begin, end, body)
        with open(path) as f:
            old = f.read()
        if new == old:
            continue
        if argv[1:] == ["--check"]:
            stale.append(os.path.relpath(path, TOP))
        else:
            with open(path, "w") as f:
                f.write(new)
    if stale:
        print("gen-params.py: the parameter table of " + " and ".join(stale) +
              " differs from message_slot.c: run make docs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

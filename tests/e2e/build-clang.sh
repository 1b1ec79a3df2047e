#!/usr/bin/env bash
# Every C file of the build, compiled again by clang (syntax and semantics only, the
# build's own flags): clang refuses what gcc lets through, chiefly a goto that jumps past
# a variable with a cleanup attribute into its scope, which frees an uninitialised
# pointer at the label (gcc has no diagnostic for it). Any error fails the test; clang's
# warnings are left to gcc's -Werror build (the tree uses GNU extensions on purpose).
set -eu
SM_REPO=${SM_REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
db=$SM_REPO/build/compile_commands.json
command -v clang >/dev/null || { echo "skip: no clang" >&2; exit 77; }
[ -f "$db" ] || { echo "skip: no $db (build first)" >&2; exit 77; }
python3 - "$db" <<'PY'
import json, shlex, subprocess, sys
from concurrent.futures import ThreadPoolExecutor

def clang_args(entry):
    args, out, skip = shlex.split(entry["command"])[1:], ["clang"], False
    for a in args:
        if skip:
            skip = False
        elif a in ("-o", "-MF", "-MQ"):
            skip = True
        elif a in ("-MD", "-Werror") or a.startswith("-Wshadow=") or a.startswith("-fno-sanitize"):
            pass  # output files, gcc's spellings; clang's own warnings are not gcc's
        else:
            out.append(a)
    return out + ["-fsyntax-only", "-w"]

entries = {e["file"]: e for e in json.load(open(sys.argv[1]))}.values()
def check(e):
    p = subprocess.run(clang_args(e), cwd=e["directory"], capture_output=True, text=True)
    return e["file"], p.returncode, p.stderr
failed = 0
with ThreadPoolExecutor(max_workers=4) as pool:
    for name, rc, err in pool.map(check, entries):
        if rc != 0:
            failed += 1
            print(f"FAIL: clang: {name}\n{err[:3000]}")
print(f"clang checked {len(entries)} files, {failed} failed")
sys.exit(1 if failed else 0)
PY

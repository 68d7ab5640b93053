#!/usr/bin/env bash
# test_doc_refs.sh - the tree stands alone: every reference to a file from
# another file points at something in this repository.
#
# check_refs ROOT [FILE...] scans FILE... (paths relative to ROOT; default:
# every text file git tracks or would track, or without git every file
# outside .git/, build/ and node_modules/) and prints one line per problem:
#  - a Markdown link [text](target) or ![alt](target) whose target, relative
#    to the referring file, does not exist or lies outside ROOT (URLs and
#    mailto: are not checked; links inside ``` blocks are not links);
#  - a path named in any text (a comment, a string, prose) that starts with a
#    top-level directory of ROOT (bridge/wal.h, docs/delivery.md) or is a
#    top-level *.md file (README.md), and does not exist relative to ROOT.
#    Not checked: #include lines (the compiler checks them, and some name
#    generated headers), .gitignore and .dockerignore patterns, placeholders in capitals (k8s/overlays/NAME),
#    image names with a tag (docker/dockerfile:1), and a name whose .c
#    exists (bench/loadgen, the program built from bench/loadgen.c);
#    Paths glued to something before them ($SW_ROOT/x, /etc/x, ./x, URLs)
#    and paths with a placeholder or glob in them (x/<name>.c, x/*.c) are
#    not repository references and are skipped;
#  - a #anchor into a Markdown file (same file, link, or a path with an
#    anchor in a comment, docs/protocols.md#mqtt) that names no heading there, by GitHub's rules: lowercase,
#    markup and punctuation dropped, each space a '-', "-1", "-2" for repeats;
#  - any mention of the three design notes that live outside the repository
#    (their names are in NOTE_RE below) or of a path outside the tree
#    (a sibling "shared" directory, the machine's work directory).
# Then a negative control: a fixture tree with one reference of each bad
# kind, and good ones of the kinds above, must get exactly the bad ones.
. "$(dirname "$0")/lib.sh"

check_refs() { # ROOT [FILE...]
  python3 - "$@" <<'EOF'
import os, re, subprocess, sys, traceback

def crashed(*exc):
    traceback.print_exception(*exc)
    os._exit(2)   # not 1: that means "problems found"
sys.excepthook = crashed

root = os.path.realpath(sys.argv[1])
tree = []
# .git is a directory in a clone and a file in a worktree
if os.path.exists(os.path.join(root, ".git")):
    out = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others",
                          "--exclude-standard"], check=True, capture_output=True).stdout
    tree = sorted(set(f for f in out.decode().split("\0") if f))
else:
    for d, dirs, names in os.walk(root):
        dirs[:] = [x for x in dirs if x not in (".git", "build", "node_modules")]
        tree += [os.path.relpath(os.path.join(d, n), root) for n in names if n != ".git"]
    tree.sort()
files = sys.argv[2:] or tree

# the top-level directories and Markdown files a repository path starts with
tops = set()
for f in tree:
    first = f.split("/", 1)[0]
    if "/" in f or first.endswith(".md"):
        tops.add(first)
top_re = "|".join(re.escape(t) for t in sorted(tops, key=len, reverse=True))
# a repository path: a top-level name, then path characters, an optional #anchor
PATH_RE = re.compile(r"(?<![\w./$~@:%+-])(?:" + top_re + r")(?:/[\w.+-]*)*(?:#[\w-]+)?") if tops else None
# the outside design notes, and paths that leave the tree
NOTE_RE = re.compile(r"\b(?:PROTOCOLS|DESIGN|STYLE)\.md\b")
OUTSIDE_RE = re.compile(r"\.\./shared\b|/wor[k]/")
LINK_RE = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'(][^)]*)?\)")
FENCE_RE = re.compile(r"^\s{0,3}(```|~~~)")
HEADING_RE = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
IGNORE_FILES = (".gitignore", ".dockerignore")
INCLUDE_RE = re.compile(r"\s*#\s*include\b")
HTML_ID_RE = re.compile(r"<a\s+(?:name|id)=[\"']([^\"']+)[\"']", re.I)

def read(path):
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", "replace").splitlines()

def slug(text):
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)   # [text](url) -> text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return "".join(c for c in text if c.isalnum() or c in "-_ ").replace(" ", "-")

anchor_cache = {}
def anchors(path):
    if path not in anchor_cache:
        seen, found, fence = {}, set(), None
        for line in read(path) or []:
            m = FENCE_RE.match(line)
            if m:
                fence = None if fence == m.group(1) else (fence or m.group(1))
                continue
            if fence:
                continue
            found.update(HTML_ID_RE.findall(line))
            h = HEADING_RE.match(line)
            if h:
                s = slug(h.group(2))
                n = seen.get(s, 0)
                seen[s] = n + 1
                found.add(s if n == 0 else "%s-%d" % (s, n))
        anchor_cache[path] = found
    return anchor_cache[path]

problems = []
def check_target(where, path, anchor, shown):
    """path: absolute; anchor may be None."""
    real = os.path.realpath(path)
    if real != root and not real.startswith(root + os.sep):
        problems.append("%s: '%s' lies outside the tree" % (where, shown))
    elif not os.path.exists(real):
        problems.append("%s: '%s' does not exist" % (where, shown))
    elif anchor is not None and real.endswith(".md") and anchor not in anchors(real):
        problems.append("%s: '%s': no heading '#%s' in %s" %
                        (where, shown, anchor, os.path.relpath(real, root)))

for rel in files:
    full = os.path.join(root, rel)
    lines = read(full)
    if lines is None:
        continue
    is_md = rel.endswith(".md")
    fence = None
    for no, line in enumerate(lines, 1):
        where = "%s:%d" % (rel, no)
        for m in NOTE_RE.finditer(line):
            problems.append("%s: names '%s', which is not in this repository (see docs/)" %
                            (where, m.group(0)))
        for m in OUTSIDE_RE.finditer(line):
            problems.append("%s: names a path outside the tree ('%s')" % (where, m.group(0)))
        in_code = False
        if is_md:
            m = FENCE_RE.match(line)
            if m:
                fence = None if fence == m.group(1) else (fence or m.group(1))
                in_code = True
            in_code = in_code or fence is not None
        if is_md and not in_code:
            for m in LINK_RE.finditer(line):
                target = m.group(1)
                if not target or re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", target):
                    continue   # URLs, mailto:
                path, _, anchor = target.partition("#")
                base = full if not path else os.path.join(os.path.dirname(full), path)
                check_target(where, base, anchor or None, target)
        if PATH_RE is None:
            continue
        if os.path.basename(rel) in IGNORE_FILES:
            continue       # patterns of paths that need not exist
        if INCLUDE_RE.match(line):
            continue       # the compiler checks these (and some are generated)
        for m in PATH_RE.finditer(line):
            token = m.group(0)
            after = line[m.end():m.end() + 2]
            if after[:1] and after[:1] in "<>*{}$%[(":
                continue   # a placeholder or glob: x/<name>.c, x/*.c, x/$(BUILD)
            path, _, anchor = token.partition("#")
            path = path.rstrip(".")
            parts = [x for x in path.split("/") if x]
            if len(parts) < 2 and not path.endswith(".md"):
                continue   # a bare word that happens to be a directory name
            if any(re.fullmatch(r"[A-Z][A-Z_]{2,}", x) for x in parts):
                continue   # a placeholder in capitals: k8s/overlays/NAME
            if re.fullmatch(r":\w", after) and "." not in parts[-1]:
                continue   # an image or ref name:tag (docker/dockerfile:1)
            if "." not in parts[-1] and os.path.isfile(os.path.join(root, path + ".c")):
                continue   # the program built from path.c (bench/loadgen)
            check_target(where, os.path.join(root, path), anchor or None, token.rstrip("."))

for p in problems:
    print(p)
sys.exit(1 if problems else 0)
EOF
}

# Negative control: a small tree with good references of each kind and one
# bad reference on each line marked BAD. Its top-level directories (guide/,
# src/, sub/) are not this repository's, and the names the check forbids
# are built here, so that this file passes the check itself.
neg=$T/neg
mkdir -p "$neg/guide" "$neg/src" "$neg/sub/deep"
note_name=PROTOCOLS
outside="../sha""red/notes.md"
workdir="/""work/shared"
fence='```'
cat >"$neg/guide/a.md" <<EOF
# Title

## Remote write

## Remote write

### \`WAL_SYNC\` and fsync: what survives

[same file](#remote-write) [repeat](#remote-write-1) [code](#wal_sync-and-fsync-what-survives)
[sibling](b.md) [with anchor](b.md#b-section) [up](../src/x.h) [dir](../src)
[web](https://example.com/missing.md) [mail](mailto:x@example.com) ![img](pic.png "title")
[gone](missing.md) BAD
[bad anchor](b.md#no-such-heading) BAD
[bad local anchor](#nowhere) BAD
[escapes](../../outside.md) BAD

$fence
[in a code block](not-a-link.md) and
# not a heading
$fence
EOF
echo '# B section' >"$neg/guide/b.md"
: >"$neg/guide/pic.png"
cat >"$neg/src/x.h" <<EOF
/* see guide/a.md#remote-write and guide/b.md, src/x.h and guide/ */
/* not repository paths: /etc/sensorwire/bridge.env /var/lib/sensor-bridge/wal */
/* /dev/gpiochip0 /sys/bus/iio https://example.com/src/gone.h \$ROOT/src/gone.h */
/* placeholders: src/<name>.c src/*.c guide/NAME/a.md guide/dockerfile:1 */
#include "src/generated.pb-c.h"
/* src/gone.h BAD */
/* guide/a.md#no-anchor BAD */
/* guide/a.md#not-a-heading BAD */
/* see ${note_name}.md G8 BAD */
/* see ${outside} BAD */
/* see ${workdir}/x BAD */
EOF
cat >"$neg/sub/deep/c.md" <<EOF
[root file](../../guide/a.md#title) and guide/b.md#b-section
[wrong level](../guide/a.md) BAD
EOF
rc=0
check_refs "$neg" >"$T/neg.out" || rc=$?
[ "$rc" -eq 1 ] || { cat "$T/neg.out" >&2; fail "negative control: expected status 1, got $rc"; }
want=$(cd "$neg" && grep -rn ' BAD' . | cut -d: -f1,2 | sed 's|^\./||' | sort)
got=$(cut -d: -f1,2 "$T/neg.out" | sort)
if [ "$want" != "$got" ]; then
  echo "--- expected one problem on each of:" >&2; echo "$want" >&2
  echo "--- reported:" >&2; cat "$T/neg.out" >&2
  fail "negative control: the checker missed a bad reference or flagged a good one"
fi
# the checker on an explicit list of files, as a caller may give it
rc=0
check_refs "$neg" src/x.h >"$T/list.out" || rc=$?
if [ "$rc" -ne 1 ] || [ "$(grep -c '^src/x.h:' "$T/list.out")" -ne 6 ] ||
  [ "$(wc -l <"$T/list.out")" -ne 6 ]; then
  cat "$T/list.out" >&2
  fail "negative control: the list of files given was not checked as given"
fi
note "negative control: $(wc -l <"$T/neg.out") bad references flagged, none of the good ones"

# The tree itself.
cd "$SW_ROOT"
rc=0
check_refs "$SW_ROOT" >"$T/tree.out" || rc=$?
[ "$rc" -le 1 ] || fail "the checker itself failed (status $rc)"
if [ "$rc" -ne 0 ]; then
  cat "$T/tree.out" >&2
  fail "$(wc -l <"$T/tree.out") dangling or outside references in the tree (listed above)"
fi
note "every file reference in the tree resolves inside it"

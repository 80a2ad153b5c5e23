#!/usr/bin/env bash
# Runs the commands the README and the guide (docs/guide/*.md) mark as runnable, so every
# one of them works as written: each fenced block whose info string is `sh offline` runs
# with `bash -euo pipefail` in a fresh empty folder, with
#  * the `repalign` binary given as $1 (default target/debug/repalign) first on PATH,
#  * HOME a fresh folder whose ~/.cache/repalign is $REPALIGN_CACHE (what `repalign fetch`
#    filled: the blocks need no network), so the guide's ~/.cache/repalign paths work
#    (XDG_CACHE_HOME is that ~/.cache too, for the binary and for a GPU driver's caches).
# A line `! command` (one line; a trailing `# comment` is allowed) states that the command
# fails as the guide says bad input does: exit code 1 (a one-line error) or 2 (a usage
# error from the argument parser). Success, a panic (101) or a signal fails the block.
# A block that fails stops the run, naming its file and line. `.ci/run` runs this after
# fetching; by hand: `REPALIGN_CACHE=~/.cache/repalign scripts/docs-commands.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(realpath "${1:-target/debug/repalign}")
[ -x "$binary" ] || { echo "docs-commands: no repalign binary at $binary" >&2; exit 1; }
cache=$(realpath "${REPALIGN_CACHE:?set REPALIGN_CACHE to the folder repalign fetch filled}")

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/bin" "$scratch/home/.cache"
ln -s "$binary" "$scratch/bin/repalign"
ln -s "$cache" "$scratch/home/.cache/repalign"

# Each block as a file: blocks/NNN.sh, with its origin (file:line) in blocks/NNN.where.
mkdir "$scratch/blocks"
awk -v out="$scratch/blocks" '
    FNR == 1 { inside = 0 }
    /^```/ {
        if (inside) { inside = 0; close(file); next }
        if ($0 ~ /^```sh offline[[:space:]]*$/) {
            inside = 1; n++
            file = sprintf("%s/%03d.sh", out, n)
            printf "%s:%d\n", FILENAME, FNR > sprintf("%s/%03d.where", out, n)
            close(sprintf("%s/%03d.where", out, n))
            next
        }
    }
    inside && /^! / && !/\\$/ {
        command = substr($0, 3)
        sub(/[ \t]+#[^"'"'"']*$/, "", command)
        printf "rc=0; %s || rc=$?; [ \"$rc\" = 1 ] || [ \"$rc\" = 2 ] || { echo \"expected exit 1 or 2, got $rc: %s\" >&2; exit 1; }\n", command, command > file
        next
    }
    inside { print > file }
' README.md docs/guide/*.md

count=0
for block in "$scratch"/blocks/*.sh; do
    [ -e "$block" ] || break
    where=$(cat "${block%.sh}.where")
    work=$(mktemp -d -p "$scratch")
    begun=$SECONDS
    if ! (cd "$work" && env -u REPALIGN_CACHE HOME="$scratch/home" XDG_CACHE_HOME="$scratch/home/.cache" \
        PATH="$scratch/bin:$PATH" bash -euo pipefail "$block") > "$work.log" 2>&1; then
        echo "docs-commands: the block at $where failed:" >&2
        sed 's/^/    /' "$block" >&2
        echo "  its output:" >&2
        tail -20 "$work.log" | sed 's/^/    /' >&2
        exit 1
    fi
    echo "ok  $where  ($((SECONDS - begun)) s)"
    count=$((count + 1))
done
[ "$count" -gt 0 ] || { echo "docs-commands: no \`sh offline\` block found" >&2; exit 1; }
echo "docs-commands: $count blocks ran as written"

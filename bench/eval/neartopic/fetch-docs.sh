#!/usr/bin/env bash
# Documents for the near-topic question set: 24 pages of real package documentation from
# Debian 12 packages, copied unchanged into DEST (default: docs/ next to this script):
#   libffi/      libffi-dev 3.4.4-1               the libffi manual (GNU Texinfo 6.8 HTML), MIT
#   sqlite/      sqlite3-doc 3.40.1-2+deb12u2     SQLite documentation pages (HTML), public domain
#   git/         git-doc 1:2.39.5-0+deb12u3       git manual pages (AsciiDoc HTML), GPL-2
#   containerd/  containerd 1.6.20~ds1-1+deb12u3  containerd docs (Markdown), Apache-2.0
# Usage: fetch-docs.sh [DEST]. Idempotent: does nothing when DEST already holds exactly the
# pages of docs.sha256. Needs apt-get and dpkg-deb (as root, 'apt-get update' is run if a package
# is not found). Nothing is installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-$here/docs}
case $dest in /*) ;; *) dest=$PWD/$dest ;; esac
sums=$here/docs.sha256

packages=("libffi-dev=3.4.4-1" "sqlite3-doc=3.40.1-2+deb12u2" "git-doc=1:2.39.5-0+deb12u3"
          "containerd=1.6.20~ds1-1+deb12u3")
libffi=(Introduction The-Basics Simple-Example Primitive-Types Structures Multiple-ABIs
        The-Closure-API Closure-Example Thread-Safety Memory-Usage Missing-Features)
sqlite=(autoinc lang_vacuum wal datatype3 limits foreignkeys)
git=(git-stash git-worktree gitignore)
containerd=(rootless namespaces client-opts tracing)

matches() {  # DEST holds exactly the pages of docs.sha256, byte for byte
  [ -d "$1" ] || return 1
  [ "$(find "$1" -type f | wc -l)" -eq "$(wc -l < "$sums")" ] || return 1
  (cd "$1" && sha256sum --quiet --status -c "$sums")
}
if [ -f "$sums" ] && matches "$dest"; then echo "$dest: up to date ($(wc -l < "$sums") pages)"; exit 0; fi

work=$(mktemp -d); stage=
trap 'rm -rf "$work" ${stage:+"$stage"}' EXIT
chmod 777 "$work"          # apt-get download runs as the _apt user
cd "$work"
for spec in "${packages[@]}"; do
  pkg=${spec%%=*}
  apt-get download -qq "$spec" 2>/dev/null ||
    { [ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null && apt-get download -qq "$spec" 2>/dev/null; } ||
    { echo "warning: $spec not available; taking the version apt offers" >&2; apt-get download -qq "$pkg"; }
  mkdir -p "x/$pkg"
  dpkg-deb -x "$(ls "$work"/"${pkg}"_*.deb | head -1)" "x/$pkg"
done

mkdir -p "$(dirname "$dest")"
stage=$(mktemp -d "$(dirname "$dest")/.docs.XXXXXX")
mkdir -p "$stage"/{libffi,sqlite,git,containerd}
for p in "${libffi[@]}"; do cp "x/libffi-dev/usr/share/doc/libffi8/html/$p.html" "$stage/libffi/"; done
for p in "${sqlite[@]}"; do cp "x/sqlite3-doc/usr/share/doc/sqlite3/$p.html" "$stage/sqlite/"; done
for p in "${git[@]}"; do cp "x/git-doc/usr/share/doc/git-doc/$p.html" "$stage/git/"; done
for p in "${containerd[@]}"; do cp "x/containerd/usr/share/doc/containerd/$p.md" "$stage/containerd/"; done
chmod -R a+rX "$stage"
rm -rf "$dest"
mv "$stage" "$dest"
stage=
n=$(find "$dest" -type f | wc -l)
(cd "$dest" && find . -type f | sed 's|^\./||' | sort | while read -r f; do echo "  $f"; done)
if [ ! -f "$sums" ] || matches "$dest"; then
  echo "$dest: $n pages"
else
  echo "warning: $dest: $n pages, but they differ from docs.sha256; some answers may no longer match" >&2
fi

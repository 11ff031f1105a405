#!/usr/bin/env bash
# bench/deploy-image.sh — builds the realistic two-layer OCI image (gzip layers) that
# bench/deploy.mjs deploys and the deploy differential test compares with podman
# (docs/deploy.md, "The realistic image").
#
#   bench/deploy-image.sh [WORKDIR] [--small]
#
# WORKDIR (default: a new mktemp -d) receives:
#   stage1/ stage2/   the layer trees as staged (stage2 holds the whiteout files literally)
#   layer1.tar layer2.tar (uncompressed, kept for DiffID checks and the tar floor)
#   layer1.tar.zst layer2.tar.zst (zstd -3, for the decompression floor only)
#   oci/              OCI image layout, tag "deploy": manifest + config + 2 tar+gzip blobs
#   oci-zstd/         the same image with tar+zstd layers (same DiffIDs), tag "deploy"
#
# Layer 1 is a copy of this machine's /usr/share (without package-lists and locale) and
# /usr/lib/python3.11 plus a synthetic base (bin -> usr/bin, hard links, setuid/setgid, a file
# capability, sticky dirs, device node, fifo, foreign owners, absolute/dangling/escaping symlinks,
# sub-second mtimes, a 16 MiB mostly-zero file with holes on disk (archived as a regular file: GNU
# tar without --sparse, as Go's archive/tar writes every layer). --small uses /usr/share/man only (quick runs).
# Layer 2 holds the changes: file and directory whiteouts, an opaque directory, replaced files
# (one of them a hard link of layer 1), file->dir, dir->file, symlink->file, file->symlink, a new
# hard link, a user.* xattr, setuid, a numeric owner, a long name, dir attribute-only changes (one
# of them drops the directory's layer-1 xattr).
#
# Needs (Debian): tar (GNU), gzip, zstd, attr (setfattr), libcap2-bin (setcap), coreutils,
# python3 (JSON only), sha256sum. Run as root (device nodes, ownership, trusted/security xattrs).
set -euo pipefail

W=${1:-}
SMALL=0
for a in "$@"; do [ "$a" = --small ] && SMALL=1; done
if [ -z "$W" ] || [ "$W" = --small ]; then W=$(mktemp -d); fi
mkdir -p "$W"
cd "$W"
rm -rf stage1 stage2 oci oci-zstd layer*.tar*
S1=$W/stage1 S2=$W/stage2
mkdir -p "$S1" "$S2"

TARX=(--xattrs --xattrs-include='*' --numeric-owner)

# ---------- layer 1: a real file tree ----------
if [ $SMALL = 1 ]; then SRC=(usr/share/man); else SRC=(usr/share usr/lib/python3.11); fi
tar -C / "${TARX[@]}" --exclude=usr/share/package-lists --exclude=usr/share/locale -cf - "${SRC[@]}" \
  | tar -C "$S1" "${TARX[@]}" -xpf -
mkdir -p "$S1"/usr/bin "$S1"/usr/sbin "$S1"/etc/alternatives "$S1"/dev "$S1"/run "$S1"/home/user \
         "$S1"/var/lib "$S1"/var/tmp "$S1"/tmp "$S1"/usr/share/vim "$S1"/usr/share/doc/pkg-a \
         "$S1"/usr/lib/python3.11/email "$S1"/usr/share/man/man5 "$S1"/etc/attrdir
ln -s usr/bin "$S1"/bin
ln -s usr/lib "$S1"/lib
for b in bash ls cat tar; do cp -p /usr/bin/$b "$S1"/usr/bin/; done
cp -p /usr/bin/gzip "$S1"/usr/bin/gzip
ln "$S1"/usr/bin/gzip "$S1"/usr/bin/zcat          # hard links (3 names, one inode)
ln "$S1"/usr/bin/gzip "$S1"/usr/bin/uncompress
ln "$S1"/usr/bin/gzip "$S1"/usr/sbin/gzip-other-dir  # hard link across directories
cp -p /usr/bin/true "$S1"/usr/bin/suid-tool && chmod 4755 "$S1"/usr/bin/suid-tool
cp -p /usr/bin/true "$S1"/usr/bin/sgid-tool && chgrp 42 "$S1"/usr/bin/sgid-tool && chmod 2755 "$S1"/usr/bin/sgid-tool
cp -p /usr/bin/true "$S1"/usr/bin/cap-tool && setcap cap_net_raw+ep "$S1"/usr/bin/cap-tool
chmod 1777 "$S1"/tmp "$S1"/var/tmp
mknod "$S1"/dev/null c 1 3 && chmod 666 "$S1"/dev/null
mkfifo "$S1"/run/initctl
echo 'user file' > "$S1"/home/user/file && chown -R 1234:5678 "$S1"/home/user
ln -s /usr/share/zoneinfo/UTC "$S1"/etc/localtime   # absolute target
ln -s /nonexistent/target "$S1"/etc/dangling        # dangling
ln -s ../../../../../../etc/passwd "$S1"/etc/escape # climbs above the root
ln -s /usr/bin/bash "$S1"/etc/alternatives/sh && chown -h 1234:5678 "$S1"/etc/alternatives/sh
echo 'old foo' > "$S1"/etc/foo                      # becomes a directory in layer 2
mkdir -p "$S1"/etc/bar.d && echo x > "$S1"/etc/bar.d/x   # becomes a file in layer 2
ln -s foo "$S1"/etc/was-link                       # symlink -> file in layer 2
echo 'was file' > "$S1"/etc/was-file               # file -> symlink in layer 2
echo 'old copyright' > "$S1"/usr/share/doc/pkg-a/copyright
echo 'kept' > "$S1"/usr/share/doc/pkg-a/README
echo 'vim runtime' > "$S1"/usr/share/vim/vimrc
echo 'old email' > "$S1"/usr/lib/python3.11/email/old_module.py
mkdir -p "$S1"/usr/lib/python3.11/email/sub && echo deep > "$S1"/usr/lib/python3.11/email/sub/deep.py
echo 'man5 page' > "$S1"/usr/share/man/man5/x.5
setfattr -n user.layer1 -v base "$S1"/etc/attrdir
echo 'subsecond' > "$S1"/etc/subsecond && touch -h -d '2020-01-02 03:04:05.123456789' "$S1"/etc/subsecond
truncate -s 16M "$S1"/var/lib/sparse && printf 'end' | dd of="$S1"/var/lib/sparse bs=1 seek=$((16*1024*1024-3)) conv=notrunc status=none
touch -h -d '2021-06-01 00:00:00' "$S1"/etc "$S1"/usr/bin   # directory mtimes to be restored

# ---------- layer 2: changes (whiteouts staged literally as empty files) ----------
mkdir -p "$S2"/usr/share/doc/pkg-a "$S2"/usr/share "$S2"/usr/lib/python3.11/email "$S2"/usr/bin \
         "$S2"/etc/foo "$S2"/opt/app
: > "$S2"/usr/share/doc/pkg-a/.wh.copyright          # file whiteout
: > "$S2"/usr/share/.wh.vim                          # directory whiteout (whole tree)
: > "$S2"/usr/bin/.wh.uncompress                     # whiteout of one name of a hard-linked inode
: > "$S2"/usr/lib/python3.11/email/.wh..wh..opq      # opaque directory ...
echo 'new email' > "$S2"/usr/lib/python3.11/email/__init__.py   # ... with new content
echo 'new zcat' > "$S2"/usr/bin/zcat                 # replaces one name of the hard-linked inode
echo 'foo is a dir now' > "$S2"/etc/foo/inner        # file -> directory
echo 'bar.d is a file now' > "$S2"/etc/bar.d         # directory -> file (no whiteout)
echo 'link became file' > "$S2"/etc/was-link         # symlink -> file
ln -s was-link "$S2"/etc/was-file                    # file -> symlink
echo 'app' > "$S2"/opt/app/bin && ln "$S2"/opt/app/bin "$S2"/opt/app/bin-hardlink  # new hard link
setfattr -n user.test -v 1 "$S2"/opt/app/bin          # user xattr (shared by both names)
cp -p /usr/bin/true "$S2"/opt/app/suid && chmod 4711 "$S2"/opt/app/suid
chown 4242:4343 "$S2"/opt/app/bin
long=$(printf 'd%.0s' {1..60})/$(printf 'e%.0s' {1..60})/$(printf 'f%.0s' {1..60})
mkdir -p "$S2"/opt/app/"$(dirname "$long")" && echo long > "$S2"/opt/app/"$long"   # > 100 bytes
mkdir -p "$S2"/usr/share/zoneinfo && chmod 0700 "$S2"/usr/share/zoneinfo   # attribute-only dir change
touch -d '2022-02-02 02:02:02' "$S2"/usr/share/zoneinfo
mkdir -p "$S2"/etc/attrdir && chmod 0750 "$S2"/etc/attrdir   # dir in both layers: layer 2 has no xattr

# ---------- tars (GNU tar, PAX format: SCHILY.xattr.* records, long names) ----------
# Layer 1 with ./ prefixes (like the spec's example), layer 2 without (like c/storage writes).
tar -C "$S1" "${TARX[@]}" --format=pax --sort=name -cf layer1.tar .
( cd "$S2" && tar "${TARX[@]}" --format=pax --sort=name -cf "$W"/layer2.tar $(ls -A) )

mkblob() { # FILE -> prints hex digest; copies FILE into DIR/blobs/sha256/<hex>
  local f=$1 dir=$2 h
  h=$(sha256sum "$f" | cut -d' ' -f1)
  mkdir -p "$dir"/blobs/sha256 && cp "$f" "$dir"/blobs/sha256/"$h" && echo "$h"
}
build_layout() { # DIR SUFFIX MEDIATYPE-SUFFIX COMPRESS...
  local dir=$1 sfx=$2 mt=$3; shift 3
  mkdir -p "$dir"
  local l descs="" diffs="" i=0
  for l in layer1 layer2; do
    [ -f $l.tar.$sfx ] || "$@" < $l.tar > $l.tar.$sfx
    local h d s
    h=$(mkblob $l.tar.$sfx "$dir"); s=$(stat -c %s $l.tar.$sfx); d=$(sha256sum $l.tar | cut -d' ' -f1)
    descs="$descs{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+$mt\",\"digest\":\"sha256:$h\",\"size\":$s},"
    diffs="$diffs\"sha256:$d\","
    i=$((i+1))
  done
  descs=${descs%,}; diffs=${diffs%,}
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/bash"]},"rootfs":{"type":"layers","diff_ids":[%s]},"history":[{"created_by":"bench/deploy-image.sh layer1"},{"created_by":"bench/deploy-image.sh layer2"}]}' "$diffs" > config.json
  local ch cs
  ch=$(mkblob config.json "$dir"); cs=$(stat -c %s config.json)
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' "$ch" "$cs" "$descs" > manifest.json
  local mh ms
  mh=$(mkblob manifest.json "$dir"); ms=$(stat -c %s manifest.json)
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"deploy"}}]}' "$mh" "$ms" > "$dir"/index.json
  printf '{"imageLayoutVersion": "1.0.0"}' > "$dir"/oci-layout
  rm -f config.json manifest.json
}
build_layout "$W"/oci gz gzip gzip -n -6
build_layout "$W"/oci-zstd zst zstd zstd -q -3 -T1
echo "image: oci:$W/oci:deploy  (zstd variant: oci:$W/oci-zstd:deploy)"
ls -l "$W"/layer1.tar* "$W"/layer2.tar*

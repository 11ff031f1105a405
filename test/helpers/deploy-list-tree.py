#!/usr/bin/env python3
"""deploy-list-tree.py — the canonical listing of a deployed root filesystem (docs/deploy.md, "The canonical listing"); an independent oracle for test/helpers/tree-listing.ts.

    deploy-list-tree.py ROOT [--no-mtime] [--ignore-xattr NAME]... > LISTING

One line per object, sorted by the raw bytes of its path, fields separated by one TAB:

    path  type  mode  uid:gid  size  content  mtime  xattrs  hardlink

path      relative to ROOT, "." for ROOT itself; bytes outside 0x21-0x7e, and "\\", as \\xHH
type      f regular, d directory, l symlink, c char device, b block device, p fifo, s socket
mode      the 12 permission bits (07777) as 4 octal digits; "-" for symlinks
uid:gid   numeric
size      st_size for f, "-" otherwise
content   f: sha256:<hex> of the bytes; l: the link target (escaped like path); c/b: major,minor;
          "-" otherwise
mtime     seconds.nanoseconds (9 digits) of st_mtime, of the link itself for symlinks
          ("-" with --no-mtime)
xattrs    name=hexvalue, sorted by name, joined by ",", of the object itself (never followed);
          "-" if none
hardlink  for a non-directory whose inode has two or more names in ROOT: "=" + the smallest
          path (by bytes) of those names; "-" otherwise (st_nlink itself is not recorded: an
          overlay mount reports lower-layer link counts that no longer hold in the tree)

Never follows symlinks. Python 3.8+, no dependencies.
"""
import hashlib
import os
import signal
import stat
import sys


def esc(b: bytes) -> str:
    out = []
    for c in b:
        if 0x21 <= c <= 0x7E and c != 0x5C:
            out.append(chr(c))
        else:
            out.append('\\x%02x' % c)
    return ''.join(out)


def sha256_file(p: bytes) -> str:
    h = hashlib.sha256()
    fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            h.update(b)
    finally:
        os.close(fd)
    return 'sha256:' + h.hexdigest()


def xattrs(p: bytes, ignore) -> str:
    try:
        names = os.listxattr(p, follow_symlinks=False)
    except OSError:
        return '-'
    items = []
    for n in sorted(names):
        if n in ignore:
            continue
        try:
            v = os.getxattr(p, n, follow_symlinks=False)
        except OSError:
            continue
        items.append('%s=%s' % (n, v.hex()))
    return ','.join(items) if items else '-'


def main(argv):
    args = argv[1:]
    no_mtime = '--no-mtime' in args
    ignore = set()
    rest = []
    i = 0
    while i < len(args):
        if args[i] == '--no-mtime':
            pass
        elif args[i] == '--ignore-xattr':
            i += 1
            ignore.add(args[i])
        else:
            rest.append(args[i])
        i += 1
    if len(rest) != 1:
        sys.stderr.write(__doc__)
        return 2
    root = os.fsencode(rest[0])
    entries = []  # (relpath bytes, lstat)
    stack = [b'']
    while stack:
        rel = stack.pop()
        full = os.path.join(root, rel) if rel else root
        st = os.lstat(full)
        entries.append((rel if rel else b'.', st))
        if stat.S_ISDIR(st.st_mode):
            for name in os.listdir(full):
                stack.append(os.path.join(rel, name) if rel else name)
    entries.sort(key=lambda e: e[0])
    groups, counts = {}, {}
    for rel, st in entries:
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            groups.setdefault(key, rel)
            counts[key] = counts.get(key, 0) + 1
    out = sys.stdout
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    for rel, st in entries:
        full = root if rel == b'.' else os.path.join(root, rel)
        m = st.st_mode
        size = '-'
        content = '-'
        if stat.S_ISREG(m):
            t = 'f'
            size = str(st.st_size)
            content = sha256_file(full)
        elif stat.S_ISDIR(m):
            t = 'd'
        elif stat.S_ISLNK(m):
            t = 'l'
            content = esc(os.readlink(full))
        elif stat.S_ISCHR(m):
            t = 'c'
            content = '%d,%d' % (os.major(st.st_rdev), os.minor(st.st_rdev))
        elif stat.S_ISBLK(m):
            t = 'b'
            content = '%d,%d' % (os.major(st.st_rdev), os.minor(st.st_rdev))
        elif stat.S_ISFIFO(m):
            t = 'p'
        elif stat.S_ISSOCK(m):
            t = 's'
        else:
            t = '?'
        mode = '-' if t == 'l' else '%04o' % stat.S_IMODE(m)
        mtime = '-' if no_mtime else '%d.%09d' % divmod(st.st_mtime_ns, 10**9)
        hl = '-'
        if t != 'd' and counts.get((st.st_dev, st.st_ino), 0) > 1:
            hl = '=' + esc(groups[(st.st_dev, st.st_ino)])
        out.write('\t'.join([esc(rel), t, mode, '%d:%d' % (st.st_uid, st.st_gid), size, content,
                             mtime, xattrs(full, ignore), hl]) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

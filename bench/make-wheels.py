#!/usr/bin/env python3
"""make-wheels.py - wheels for bench/python.sh, made from Debian 12's python3-* packages.

Usage: bench/make-wheels.py DEBS_DIR OUT_DIR

For each .deb in DEBS_DIR, the files under usr/lib/python3/dist-packages (real modules,
data and C extensions as Debian built them) become one wheel in OUT_DIR:
{name}-{version}-{cp311-cp311-linux_x86_64 | py3-none-any}.whl with a .dist-info made from
the package's egg-info/dist-info metadata (METADATA, WHEEL, entry_points.txt when there is
one, RECORD with sha256 and sizes), deflate-compressed, entries sorted, fixed timestamps,
so the set is the same on every run. Symlinks are stored as the files they point to (a
target outside the package is read from this machine, e.g. certifi's CA bundle) or
dropped when missing. No network: the .debs come from `apt-get download`.
"""
import base64
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile

DATE = (2024, 1, 1, 0, 0, 0)


def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def metadata_of(root):
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry)
        if entry.endswith(".dist-info"):
            return entry, open(os.path.join(path, "METADATA"), "rb").read(), path
        if entry.endswith(".egg-info"):
            pkg = os.path.join(path, "PKG-INFO") if os.path.isdir(path) else path
            return entry, open(pkg, "rb").read(), path if os.path.isdir(path) else None
    return None, None, None


def field(meta, name):
    m = re.search(rb"^" + name.encode() + rb": *(.*)$", meta, re.M)
    return m.group(1).decode().strip() if m else None


def content_of(path, extract_root):
    if os.path.islink(path):
        target = os.readlink(path)
        if os.path.isabs(target):
            inside = os.path.join(extract_root, target.lstrip("/"))
            path = inside if os.path.exists(inside) else target
        else:
            path = os.path.join(os.path.dirname(path), target)
        if not os.path.exists(path):
            return None
    with open(path, "rb") as f:
        return f.read()


def wheel_of(deb, out_dir):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg-deb", "-x", deb, tmp], check=True)
        root = os.path.join(tmp, "usr/lib/python3/dist-packages")
        if not os.path.isdir(root):
            return None
        meta_entry, meta, meta_dir = metadata_of(root)
        if meta is None:
            return None
        name, version = field(meta, "Name"), field(meta, "Version")
        files = {}
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not
                                 (dirpath == root and d.endswith((".egg-info", ".dist-info"))))
            for f in filenames:
                rel = os.path.relpath(os.path.join(dirpath, f), root)
                if dirpath == root and f.endswith((".egg-info", ".pth")):
                    continue
                data = content_of(os.path.join(dirpath, f), tmp)
                if data is not None:
                    files[rel] = data
        platform = any(".cpython-" in f and f.endswith(".so") for f in files)
        tag = "cp311-cp311-linux_x86_64" if platform else "py3-none-any"
        escaped = re.sub(r"[-_.]+", "_", name)
        info = "%s-%s.dist-info" % (escaped, version)
        files[info + "/METADATA"] = meta
        files[info + "/WHEEL"] = ("Wheel-Version: 1.0\nGenerator: ocibake bench/make-wheels.py\n"
                                  "Root-Is-Purelib: %s\nTag: %s\n" % ("false" if platform else "true", tag)).encode()
        if meta_dir and os.path.exists(os.path.join(meta_dir, "entry_points.txt")):
            files[info + "/entry_points.txt"] = open(os.path.join(meta_dir, "entry_points.txt"), "rb").read()
        record = "".join("%s,%s,%d\n" % (p, record_hash(d), len(d)) for p, d in sorted(files.items()))
        files[info + "/RECORD"] = (record + info + "/RECORD,,\n").encode()
        path = os.path.join(out_dir, "%s-%s-%s.whl" % (escaped, version, tag))
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for p in sorted(files):
                zi = zipfile.ZipInfo(p, DATE)
                zi.compress_type = zipfile.ZIP_DEFLATED
                zi.external_attr = 0o644 << 16
                z.writestr(zi, files[p])
        return path


def main():
    debs, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for deb in sorted(os.listdir(debs)):
        if deb.endswith(".deb"):
            made = wheel_of(os.path.join(debs, deb), out)
            print(("made " + os.path.basename(made)) if made else ("skipped " + deb))


if __name__ == "__main__":
    main()

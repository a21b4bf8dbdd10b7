#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into fuzz/corpus/<target>/ (committed).

Run it again after changing a seed; the output is deterministic (no clock, no host user,
no host paths). Files named regress-* (reproducers of fixed bugs, added by hand) are kept. Seeds come from inputs in the tree (recipes/, layers/, tests/golden/,
tests/unit/ fixtures) where there are some; the binary ones (a layer tar, a .deb, a
wheel) are built here from recipes/hello/rootfs, byte for byte the same on every run.
"""
import gzip
import hashlib
import io
import json
import lzma
import pathlib
import re
import shutil
import struct
import subprocess
import tarfile
import zipfile
import base64

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "corpus"
HELLO = ROOT / "recipes" / "hello" / "rootfs"


def put(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


def copy(target, path, name=None):
    put(target, name or path.name, path.read_bytes())


# ---- recipes, locks, requirements, pylock -------------------------------------------------

def recipes():
    for p in ["recipes/hello.toml", "recipes/debian-pytorch.toml", "recipes/pytorch-cuda.toml",
              "layers/openssh.toml", "layers/debian-base.toml", "layers/jupyter.toml",
              "tests/gpu/cuda-check.toml"]:
        copy("recipe", ROOT / p, p.replace("/", "-"))


def locks():
    text = (ROOT / "recipes" / "debian-pytorch.lock").read_text()
    head, *packages = text.split("\n[[apt.package]]\n")
    # The first layer with three of its packages, then the next [[apt]] table.
    first = head + "".join("\n[[apt.package]]\n" + p.split("\n\n[[apt]]")[0] + "\n"
                           for p in packages[:3])
    put("lock", "debian-pytorch-head.lock", first)
    digest = "sha256:" + "c24fe4eb8e60d8632d72ed104cce7c92cff200847c897dc8ba764b6c47b519e0"
    put("lock", "base-python.lock", f"""# ocibake lock for app.toml: every remote input, pinned by digest.
version = 1

[base]
ref = "docker.io/library/debian:bookworm-slim"
platform = "linux/amd64"
index = "{digest}"
manifest = "{digest}"

[[python]]
layer = "torch"
python = "3.11"
glibc = "2.36"
machine = "x86_64"

  [[python.wheel]]
  name = "numpy"
  version = "2.0.0"
  file = "numpy-2.0.0-cp311-cp311-manylinux_2_17_x86_64.whl"
  url = "https://files.example/numpy-2.0.0-cp311-cp311-manylinux_2_17_x86_64.whl"
  size = 19000000
  sha256 = "{digest}"

  [[python.wheel]]
  name = "demo"
  version = "1.0"
  file = "demo-1.0-py3-none-any.whl"
  path = "wheels/demo-1.0-py3-none-any.whl"
  sha256 = "{digest}"
  direct = true
""")


def requirements():
    for p in sorted((ROOT / "layers").glob("*/requirements.in")):
        copy("requirements", p, p.parent.name + "-requirements.in")
    a, b = "a" * 64, "b" * 64
    put("requirements", "hashed.txt", f"""# pip-compile --generate-hashes
--index-url https://pypi.example/simple
--extra-index-url https://download.example/whl/cu128
--trusted-host pypi.example
-r other.txt
numpy==2.0.0 \\
    --hash=sha256:{a} \\
    --hash=sha256:{b}
torch==2.7.0+cu128 ; platform_machine == "x86_64" and python_version >= "3.9" \\
    --hash=sha256:{a}
tomli==2.0.1 ; python_version < "3.11" or (sys_platform != 'win32' and extra == "toml") --hash=sha256:{b}
demo @ https://files.example/demo-1.0-py3-none-any.whl --hash=sha256:{a}
""")


def pylock():
    a = "a" * 64
    put("pylock", "pylock.toml", f"""lock-version = "1.0"
created-by = "uv"
requires-python = ">=3.11"

[[packages]]
name = "numpy"
version = "2.0.0"
marker = "python_version >= '3.9'"
index = "https://pypi.org/simple"
wheels = [
  {{url = "https://h/numpy-2.0.0-cp311-cp311-manylinux_2_17_x86_64.whl", size = 10, hashes = {{sha256 = "{a}"}}}},
  {{name = "numpy-2.0.0-py3-none-any.whl", path = "w/n.whl", hashes = {{sha256 = "{a}"}}}},
]

[[packages]]
name = "fastmath"
version = "0.1"
[[packages.wheels]]
url = "https://files.example/ocibake_fastmath-0.1-cp311-cp311-linux_x86_64.whl"
hashes = {{sha256 = "{a}"}}

[[packages]]
name = "src-only"
version = "1.0"
sdist = {{url = "https://files.example/src-only-1.0.tar.gz", hashes = {{sha256 = "{a}"}}}}
""")


# ---- apt: deb822, InRelease ------------------------------------------------------------------

PACKAGES = """Package: python3
Source: python3-defaults
Version: 3.11.2-1+b1
Installed-Size: 93
Maintainer: Matthias Klose <doko@debian.org>
Architecture: amd64
Multi-Arch: allowed
Replaces: python3-minimal (<< 3.1.2-2)
Provides: python3-profiler
Depends: python3.11 (>= 3.11.2-1~), libpython3-stdlib (= 3.11.2-1+b1)
Pre-Depends: python3-minimal (= 3.11.2-1+b1)
Suggests: python3-doc (>= 3.11.2-1+b1), python3-tk (>= 3.11.2-1~), python3-venv (>= 3.11.2-1+b1)
Description: interactive high-level object-oriented language (default python3 version)
 Python, the high-level, interactive object oriented language,
 includes an extensive class library with lots of goodies for
 .
 network programming, system administration, sounds and graphics.
Homepage: https://www.python.org/
Tag: devel::interpreter, devel::lang:python, devel::library,
 implemented-in::c, implemented-in::python, role::devel-lib,
Section: python
Priority: optional
Filename: pool/main/p/python3-defaults/python3_3.11.2-1+b1_amd64.deb
Size: 26000
MD5sum: 5fc5ee3dd0cd25ba6ad3fc8b7e2f2f8c
SHA256: c24fe4eb8e60d8632d72ed104cce7c92cff200847c897dc8ba764b6c47b519e0

Package: python3-minimal
Source: python3-defaults
Version: 3.11.2-1+b1
Architecture: amd64
Multi-Arch: allowed
Depends: dpkg (>= 1.13.20)
Pre-Depends: python3.11-minimal (>= 3.11.2-1~)
Filename: pool/main/p/python3-defaults/python3-minimal_3.11.2-1+b1_amd64.deb
Size: 26000
SHA256: 6ea03cbbc7a7bfcee601c9fb08d4e026fd522ede5350561f06867ad9c0a0fa6b

Package: python3.11
Version: 3.11.2-6+deb12u6
Architecture: amd64
Multi-Arch: allowed
Depends: python3.11-minimal (= 3.11.2-6+deb12u6), libpython3.11-stdlib (= 3.11.2-6+deb12u6), media-types | mime-support, tzdata
Breaks: python3-all (<< 3.6.5~rc1-1)
Filename: pool/main/p/python3.11/python3.11_3.11.2-6+deb12u6_amd64.deb
Size: 573000
SHA256: 3eb1ea6d85488f488cc2a163b98ad640ef88cee4c79287cf14e361aaf6206f47

Package: libpython3-stdlib
Source: python3-defaults
Version: 3.11.2-1+b1
Architecture: amd64
Multi-Arch: same
Depends: libpython3.11-stdlib (>= 3.11.2-1~)
Filename: pool/main/p/python3-defaults/libpython3-stdlib_3.11.2-1+b1_amd64.deb
Size: 21000
SHA256: 102c02abd073872a3bf0b7b27d80291cc8855b92338b5d7b0c37344803f62862

Package: tzdata
Version: 2024a-0+deb12u1
Architecture: all
Multi-Arch: foreign
Provides: tzdata-bookworm
Depends: debconf (>= 0.5) | debconf-2.0
Filename: pool/main/t/tzdata/tzdata_2024a-0+deb12u1_all.deb
Size: 255000
SHA256: 68f1355be913b02a2649a7a5659aa8495701c74894cf100cdd7344786c22f6c5
"""

STATUS = """Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 340
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Multi-Arch: foreign
Version: 12.4+deb12u15
Replaces: base, dpkg (<= 1.15.0), miscutils
Provides: base
Pre-Depends: awk
Breaks: debian-security-support (<< 2019.04.25), initscripts (<< 2.88dsf-13.3)
Conffiles:
 /etc/debian_version 9b1fd5a1b4b7ae1f1f2d3b8a4bb6d0a0
 /etc/host.conf 4eb63731c9f5e30903ac4fc07a7fe3d6
 /etc/issue e2c7e5e3a1ba9b5e6f1d0f7e1c3b8c16 obsolete
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system, and
 several important miscellaneous files.

Package: dpkg
Essential: yes
Status: install ok installed
Priority: required
Architecture: amd64
Multi-Arch: foreign
Version: 1.21.22
Provides: dpkg-dev (= 1.21.22)
Depends: tar (>= 1.28-1)
Pre-Depends: libbz2-1.0, libc6 (>= 2.34), liblzma5 (>= 5.4.0), libmd0 (>= 0.0.0), libselinux1 (>= 3.1~), libzstd1 (>= 1.5.2), zlib1g (>= 1:1.1.4)

Package: libc6
Status: deinstall ok config-files
Architecture: amd64
Version: 2.36-9+deb12u7
"""

RELEASE = """Origin: Debian
Label: Debian
Suite: stable
Version: 12.7
Codename: bookworm
Changelogs: https://metadata.ftp-master.debian.org/changelogs/@CHANGEPATH@_changelog
Date: Sat, 31 Aug 2024 10:05:16 UTC
Valid-Until: Sat, 07 Sep 2024 10:05:16 UTC
Acquire-By-Hash: yes
No-Support-for-Architecture-all: Packages
Architectures: all amd64 arm64 armel armhf i386 mips64el mipsel ppc64el s390x
Components: main contrib non-free-firmware non-free
Description: Debian 12.7 Released 31 August 2024
MD5Sum:
 7fdf4db15250af5368cc52a91e8edbce   738242 contrib/Contents-all
 cbd7bc4d3eb517ac2b22f929dfc07b47    57319 contrib/Contents-all.gz
SHA256:
 c24fe4eb8e60d8632d72ed104cce7c92cff200847c897dc8ba764b6c47b519e0   738242 contrib/Contents-all
 3eb1ea6d85488f488cc2a163b98ad640ef88cee4c79287cf14e361aaf6206f47  8811324 main/binary-amd64/Packages
 6ea03cbbc7a7bfcee601c9fb08d4e026fd522ede5350561f06867ad9c0a0fa6b  2004460 main/binary-amd64/Packages.gz
 102c02abd073872a3bf0b7b27d80291cc8855b92338b5d7b0c37344803f62862  1568520 main/binary-amd64/Packages.xz
 68f1355be913b02a2649a7a5659aa8495701c74894cf100cdd7344786c22f6c5       117 main/binary-amd64/Release
"""

SIGNATURE = """-----BEGIN PGP SIGNATURE-----

iQIzBAEBCgAdFiEEpyNohvPMyq0Uiif4DphATThvodkFAmbS65IACgkQDphATThv
odk6ig/+Kc9vrbsDBUqqbmH8NwCOPtfCPgcqTFDjcwHRj2ZeUlWpjoTATXHmSZKo
=xp+d
-----END PGP SIGNATURE-----
"""


def deb822():
    put("deb822", "Packages", PACKAGES)
    put("deb822", "status", STATUS)
    put("deb822", "Release", RELEASE)
    put("inrelease", "InRelease",
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" + RELEASE.replace("\n-", "\n- -")
        + SIGNATURE)
    key = base64.b64encode(bytes(range(256))).decode()
    lines = "\n".join(key[i:i + 64] for i in range(0, len(key), 64))
    put("inrelease", "key.asc", "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n"
        + lines + "\n=AbCd\n-----END PGP PUBLIC KEY BLOCK-----\n")


# ---- PyPI pages, OCI JSON, registry, CDI -----------------------------------------------------

def pypi():
    a = "a" * 64
    files = [
        {"filename": "demo-1.0-py3-none-any.whl", "url": "../../files/demo-1.0-py3-none-any.whl",
         "hashes": {"sha256": a}, "requires-python": ">=3.8", "size": 1234, "yanked": False},
        {"filename": "demo-1.0.tar.gz", "url": "https://files.example/demo-1.0.tar.gz",
         "hashes": {"sha256": a}, "yanked": "broken"},
        {"filename": "demo-0.9-cp311-cp311-manylinux_2_17_x86_64.whl",
         "url": "/whl/demo-0.9-cp311-cp311-manylinux_2_17_x86_64.whl#sha256=" + a,
         "hashes": {}, "core-metadata": {"sha256": a}},
    ]
    put("pypi_index", "page.json", json.dumps(
        {"meta": {"api-version": "1.1"}, "name": "demo", "versions": ["0.9", "1.0"],
         "files": files}, indent=1))
    put("pypi_index", "page.html", f"""<!DOCTYPE html>
<html><head><meta name="pypi:repository-version" content="1.0"><title>Links for demo</title></head>
<body><h1>Links for demo</h1>
<a href="../../files/demo-1.0-py3-none-any.whl#sha256={a}" data-requires-python="&gt;=3.8">demo-1.0-py3-none-any.whl</a><br/>
<a href='/whl/cu128/demo-0.9-cp311-cp311-manylinux_2_17_x86_64.whl#sha256={a}' data-yanked="">demo-0.9</a><br/>
<A HREF="https://files.example/demo-1.0.tar.gz" data-dist-info-metadata="sha256={a}">demo-1.0.tar.gz</A>
<a href="//cdn.example/demo%2B1-2.0-py3-none-any.whl?x=1&amp;y=2">demo+1</a>
</body></html>
""")


def oci():
    for p in sorted((ROOT / "tests" / "golden" / "oci").glob("*.json")):
        copy("oci", p)
    d = "sha256:" + "c24fe4eb8e60d8632d72ed104cce7c92cff200847c897dc8ba764b6c47b519e0"
    put("oci", "docker-manifest.json", json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1469,
                   "digest": d},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 29126484, "digest": d}]}, indent=3))
    put("oci", "docker-list.json", json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "size": 529, "digest": d,
                       "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
                      {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1,
                       "digest": d, "annotations": {"vnd.docker.reference.type":
                                                    "attestation-manifest"},
                       "platform": {"architecture": "unknown", "os": "unknown"}}]}))


def registry():
    for i, h in enumerate([
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/debian:pull"',
            'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:o/r:pull,push",'
            'error="insufficient_scope"',
            'Basic realm="Registry Realm"',
            'bearer realm=http://localhost:5001/auth, service = "a \\"quoted\\" one", scope=x']):
        put("www_authenticate", f"header-{i}", h)
    auth = base64.b64encode(b"user:pass word").decode()
    put("docker_config", "auths.json", json.dumps({"auths": {
        "https://index.docker.io/v1/": {"auth": auth},
        "localhost:5000": {"username": "u", "password": "p"},
        "ghcr.io": {"identitytoken": "tok"}}}, indent="\t"))
    put("docker_config", "helpers.json", json.dumps({
        "auths": {"quay.io": {}}, "credHelpers": {"ghcr.io": "gh", "docker.io": "desktop"},
        "credsStore": "pass"}))


def cdi():
    source = (ROOT / "tests" / "unit" / "test_yaml_subset.cpp").read_text()
    for i, m in enumerate(re.finditer(r'R"\((.*?)\)"', source, re.S)):
        if "\n" in m.group(1):
            put("cdi_yaml", f"test_yaml_subset-{i}.yaml", m.group(1))


# ---- binary seeds: a layer, a .deb, a wheel ---------------------------------------------------

def tar_bytes(entries, fmt=tarfile.GNU_FORMAT):
    """entries: (TarInfo fields, data) in order."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as t:
        for info, data in entries:
            info.mtime = 1700000000
            info.uname = info.gname = ""
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    # Without tarfile's padding to 10 KiB: the end-of-archive blocks only.
    body = out.getvalue().rstrip(b"\0")
    return body + b"\0" * (-len(body) % 512) + b"\0" * 1024


def entry(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, link="", uid=0, gid=0, pax=None):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.uid, info.gid = uid, gid
    info.linkname = link
    if kind == tarfile.REGTYPE:
        info.size = len(data)
    if pax:
        info.pax_headers = pax
    return info, data if kind == tarfile.REGTYPE else None


def hello_entries(prefix=""):
    out = [entry(prefix + "etc/", tarfile.DIRTYPE, mode=0o755)]
    for rel in ["etc/group", "etc/passwd"]:
        out.append(entry(prefix + rel, data=(HELLO / rel).read_bytes()))
    out += [entry(prefix + "usr/", tarfile.DIRTYPE, mode=0o755),
            entry(prefix + "usr/local/", tarfile.DIRTYPE, mode=0o755),
            entry(prefix + "usr/local/bin/", tarfile.DIRTYPE, mode=0o755),
            entry(prefix + "usr/local/bin/hello",
                  data=(HELLO / "usr/local/bin/hello").read_bytes(), mode=0o755)]
    return out


def layers():
    plain = tar_bytes(hello_entries() + [
        entry("home/", tarfile.DIRTYPE, mode=0o755),
        entry("home/app/", tarfile.DIRTYPE, mode=0o750, uid=1000, gid=1000),
        entry("bin", tarfile.SYMTYPE, link="usr/local/bin"),
        entry("usr/local/bin/hi", tarfile.LNKTYPE, link="usr/local/bin/hello"),
        entry("var/", tarfile.DIRTYPE, mode=0o755),
        entry("var/.wh..wh..opq"),
        entry("etc/.wh.shadow"),
        entry("run/initctl", tarfile.FIFOTYPE, mode=0o600),
    ])
    put("layer", "hello.tar", plain)
    put("layer", "hello.tar.gz", gzip.compress(plain, mtime=0))
    if shutil.which("zstd"):
        put("layer", "hello.tar.zst", subprocess.run(["zstd", "-q", "-c", "-3"], input=plain,
                                                     stdout=subprocess.PIPE, check=True).stdout)
    put("layer", "pax.tar", tar_bytes([
        entry("usr/", tarfile.DIRTYPE, mode=0o755),
        entry("usr/" + "long-name/" * 12 + "file", data=b"x\n",
              pax={"SCHILY.xattr.user.note": "v",
                   # a VFS_CAP_REVISION_2 value: cap_net_raw permitted and effective
                   "SCHILY.xattr.security.capability": struct.pack(
                       "<IIIII", 0x02000001, 1 << 13, 0, 0, 0).decode("latin-1")}),
        entry("usr/bin/ping", data=b"\x7fELF", mode=0o4755),
    ], fmt=tarfile.PAX_FORMAT))


def archives():
    top = "hello-1.0/"
    members = [entry(top, tarfile.DIRTYPE, mode=0o755)] + hello_entries(top) + [
        entry(top + "lib/", tarfile.DIRTYPE, mode=0o755),
        entry(top + "lib/libhello.so.1.0", data=b"\x7fELF stand-in\n", mode=0o755),
        entry(top + "lib/libhello.so.1", tarfile.SYMTYPE, link="libhello.so.1.0"),
        entry(top + "usr/local/bin/hi", tarfile.LNKTYPE, link=top + "usr/local/bin/hello"),
    ]
    plain = tar_bytes(members)
    put("archive_input", "hello.tar", plain)
    put("archive_input", "hello.tar.xz", lzma.compress(plain, preset=6))
    put("archive_input", "hello.tar.gz", gzip.compress(plain, mtime=0))
    put("archive_input", "climbs.tar", tar_bytes([entry("a/../../etc/x", data=b"x\n")]))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in members:
            if info.type not in (tarfile.REGTYPE, tarfile.DIRTYPE):
                continue
            zi = zipfile.ZipInfo(info.name, date_time=(1980, 1, 1, 0, 0, 0))
            zi.external_attr = ((0o40000 if info.type == tarfile.DIRTYPE else 0o100000)
                                | info.mode) << 16
            z.writestr(zi, data or b"")
    put("archive_input", "hello.zip", out.getvalue())


def redistrib():
    def archive(rel, fill):
        return {"relative_path": rel, "sha256": fill * 64, "md5": fill * 32, "size": "1234"}
    cuda = {"release_date": "2024-04-01", "release_label": "12.4.1", "release_product": "cuda"}
    for comp, ver in [("cuda_cudart", "12.4.127"), ("libcublas", "12.4.5.8")]:
        cuda[comp] = {"name": comp, "license": "CUDA Toolkit", "license_path": comp + "/LICENSE.txt",
                      "version": ver}
        for plat in ["linux-x86_64", "linux-sbsa", "windows-x86_64"]:
            ext = "zip" if plat.startswith("windows") else "tar.xz"
            cuda[comp][plat] = archive(f"{comp}/{plat}/{comp}-{plat}-{ver}-archive.{ext}", "a")
    put("redistrib", "redistrib_12.4.1.json", json.dumps(cuda, indent=2))
    cudnn = {"release_date": "2024-02-29", "release_label": "9.0.0", "release_product": "cudnn",
             "cudnn": {"name": "NVIDIA CUDA Deep Neural Network library", "license": "cudnn",
                       "license_path": "cudnn/LICENSE.txt", "version": "9.0.0.312",
                       "cuda_variant": ["11", "12"]}}
    for plat in ["linux-x86_64", "linux-sbsa"]:
        cudnn["cudnn"][plat] = {
            f"cuda{v}": archive(f"cudnn/{plat}/cudnn-{plat}-9.0.0.312_cuda{v}-archive.tar.xz", "b")
            for v in ["11", "12"]}
    put("redistrib", "redistrib_9.0.0.json", json.dumps(cudnn, indent=2))


def ar(members):
    out = b"!<arch>\n"
    for name, data in members:
        out += (f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n").encode()
        out += data + (b"\n" if len(data) % 2 else b"")
    return out


def debs():
    control = b"""Package: hello
Version: 1.0-1
Architecture: amd64
Maintainer: ocibake <fuzz@example.invalid>
Installed-Size: 12
Depends: libc6 (>= 2.34), base-files | base-passwd
Conflicts: hello-traditional
Replaces: hello-old (<< 1.0)
Provides: greeter (= 1.0)
Section: misc
Priority: optional
Description: says hello
 A package made for the fuzz corpus.
"""
    data = tar_bytes([entry("./", tarfile.DIRTYPE, mode=0o755)] + [
        (dict_replace(i, "./" + i.name), d) for i, d in hello_entries()] + [
        entry("./etc/hello.conf", data=b"greeting = hello\n"),
        entry("./usr/share/", tarfile.DIRTYPE, mode=0o755),
        entry("./usr/share/doc/", tarfile.DIRTYPE, mode=0o755),
        entry("./usr/share/doc/hello", tarfile.SYMTYPE, link="../../local/bin"),
        entry("./usr/local/bin/hi", tarfile.LNKTYPE, link="./usr/local/bin/hello"),
    ])
    md5 = "".join(f"{hashlib.md5(d).hexdigest()}  {i.name[2:]}\n"
                  for i, d in [(dict_replace(i, "./" + i.name), d) for i, d in hello_entries()]
                  if d is not None)
    ctl = tar_bytes([
        entry("./", tarfile.DIRTYPE, mode=0o755),
        entry("./control", data=control),
        entry("./md5sums", data=md5.encode()),
        entry("./conffiles", data=b"/etc/hello.conf\n"),
        entry("./postinst", data=b"#!/bin/sh\nset -e\nadduser --system app\n", mode=0o755),
    ])
    put("deb", "hello_1.0-1_amd64.deb", ar([("debian-binary", b"2.0\n"), ("control.tar", ctl),
                                             ("data.tar", data)]))
    put("deb", "hello-xz_1.0-1_amd64.deb", ar([
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", lzma.compress(ctl, preset=6)),
        ("data.tar.xz", lzma.compress(data, preset=6, check=lzma.CHECK_CRC64))]))
    put("deb", "hello-gz_1.0-1_amd64.deb", ar([
        ("debian-binary", b"2.0\n"), ("control.tar.gz", gzip.compress(ctl, mtime=0)),
        ("data.tar.gz", gzip.compress(data, mtime=0))]))


def dict_replace(info, name):
    info.name = name
    return info


def wheel_files():
    """(name, content, executable) of a small wheel with scripts, data and entry points."""
    return [
        ("demo/__init__.py", "def main():\n    print('hello')\n", False),
        ("demo/gui.py", "def run():\n    pass\n", False),
        ("demo-1.0.data/scripts/demo-tool", "#!python\nimport demo\ndemo.main()\n", True),
        ("demo-1.0.data/data/share/demo/readme.txt", "data file\n", False),
        ("demo-1.0.data/headers/demo.h", "int demo(void);\n", False),
        ("demo-1.0.dist-info/METADATA",
         "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Python: >=3.8\n"
         "Requires-Dist: numpy (>=1.0) ; extra == 'fast'\n\nA demo.\n", False),
        ("demo-1.0.dist-info/WHEEL",
         "Wheel-Version: 1.0\nGenerator: bdist_wheel (0.40.0)\nRoot-Is-Purelib: true\n"
         "Tag: py3-none-any\n", False),
        ("demo-1.0.dist-info/entry_points.txt",
         "[console_scripts]\ndemo = demo:main\n\n[gui_scripts]\ndemo-gui = demo.gui:run [extra]\n"
         "\n[other.group]\nx = y\n", False),
        ("demo-1.0.dist-info/top_level.txt", "demo\n", False),
    ]


def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def wheels():
    files = wheel_files()
    text = "demo-1.0-py3-none-any.whl\n"
    for name, content, exe in files:
        text += ("==x " if exe else "=== ") + name + "\n" + content
    put("wheel", "demo.txt", text)
    put("wheel", "demo-record-extra.txt", text + "=== RECORD+\n\"quoted, name\",sha256=x,1\n")
    put("wheel", "platlib.txt", "fast-2.0-cp311-cp311-manylinux_2_17_x86_64.whl\n"
        "=== fast/__init__.py\n\n=== fast/_speed.cpython-311-x86_64-linux-gnu.so\n\x7fELF\n"
        "=== fast-2.0.data/platlib/fast_extra.py\n\n"
        "=== fast-2.0.dist-info/WHEEL\nWheel-Version: 1.0\nRoot-Is-Purelib: false\n"
        "=== fast-2.0.dist-info/METADATA\nName: fast\nVersion: 2.0\n")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        record = ""
        for name, content, exe in files:
            data = content.encode()
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if exe else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
            record += f"{name},{record_hash(data)},{len(data)}\n"
        record += "demo-1.0.dist-info/RECORD,,\n"
        info = zipfile.ZipInfo("demo-1.0.dist-info/RECORD", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o100644 << 16
        z.writestr(info, record)
    put("wheel_zip", "demo-1.0-py3-none-any.whl", out.getvalue())


# ---- dictionaries: the names the parsers look for, taken from their sources ----------------

# ---- the remote cache's artifact, index and records (fuzz_cache_index) ---------------------

def cache_index():
    h = "sha256:" + "0" * 64
    layer = "application/vnd.oci.image.layer.v1.tar+gzip"
    put("cache_index", "manifest.json", json.dumps({
        "artifactType": "application/vnd.ocibake.cache.v1",
        "config": {"digest": h, "mediaType": "application/vnd.ocibake.cache.index.v1+json",
                   "size": 120},
        "layers": [{"digest": h,
                    "mediaType": "application/vnd.ocibake.cache.records.v1+json+gzip",
                    "size": 40},
                   {"digest": h, "mediaType": layer, "size": 1000}],
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "schemaVersion": 2},
        separators=(",", ":")))
    entry = json.dumps({"diff_id": h, "digest": h, "media_type": layer, "size": 1000,
                        "uncompressed_size": 10240}, separators=(",", ":"))
    image = json.dumps({"layers": [{"name": "one", "recipe_layer": "one", "packages": 1,
                                    "entries": 2, "digest": h, "size": 1000,
                                    "media_type": layer, "diff_id": h,
                                    "uncompressed_size": 10240}],
                        "part_modulus": 6, "part_threshold": 2000000}, separators=(",", ":"))
    put("cache_index", "index.json", json.dumps({
        "ocibake_cache": 2, "recipe": "app",
        "records": {"apt-layer": {"0" * 64: h},
                    "layer-blob": {"0" * 64 + ".gzip.6.libdeflate-1.14": entry},
                    "layer-shape": {"1" * 64: "{}"},
                    "image-key": {"2" * 64: image}},
        "writes": 3, "written": {h: 2}}, separators=(",", ":")))
    put("cache_index", "image-key.json", image)
    records = json.dumps({
        "ocibake_cache": 2,
        "records": {"apt-deb": {"0" * 64: json.dumps({"status": "Package: a\n"})},
                    "apt-image": {"0" * 64: "{}"}}}, separators=(",", ":"))
    put("cache_index", "records.json", records)
    put("cache_index", "records.json.gz", gzip.compress(records.encode(), mtime=0))


DICT = ROOT / "fuzz" / "dict"


def quoted_names(*sources, pattern=r'"([A-Za-z][A-Za-z0-9_.+-]*)"'):
    names = set()
    for src in sources:
        names |= set(re.findall(pattern, (ROOT / "lib" / "src" / src).read_text()))
    return names


def write_dict(name, tokens):
    def escape(t):
        return "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else f"\\x{ord(c):02x}"
                       for c in t)
    DICT.mkdir(parents=True, exist_ok=True)
    lines = [f'"{escape(t)}"' for t in sorted(set(tokens))]
    (DICT / f"{name}.dict").write_text(
        f"# libFuzzer dictionary for fuzz_{name} (made by fuzz/make-seeds.py)\n"
        + "\n".join(lines) + "\n")


TOML = ["[", "]", "[[", "]]", "=", "{", "}", ",", ".", "\"", "'", '"""', "'''", "#", "\n",
        "true", "false", "0o755", "0x1f", "0b1", "1e3", "inf", "nan", "-0", "+1",
        "1979-05-27T07:32:00Z", "07:32:00", "\\u00e9", "\\U0001F600"]
JSON = ["{", "}", "[", "]", ":", ",", "\"", "null", "true", "false", "-0.5e+3", "\\u0000",
        "\\ud800", "1e999", "18446744073709551616"]
DIGEST = ["sha256:" + "c24fe4eb8e60d8632d72ed104cce7c92cff200847c897dc8ba764b6c47b519e0"]


def dictionaries():
    if DICT.exists():
        shutil.rmtree(DICT)
    write_dict("recipe", TOML + DIGEST + sorted(quoted_names("recipe/recipe.cpp", "recipe/archive.cpp")) +
               ["../layers/busybox.toml", "/etc/passwd", "linux/arm64/v8", "[a-z]+$"])
    write_dict("lock", TOML + DIGEST + sorted(quoted_names("lock/lock.cpp")))
    write_dict("pylock", TOML + sorted(quoted_names("python/pylock.cpp")) +
               ["sha256", "a" * 64])
    write_dict("oci", JSON + DIGEST + sorted(quoted_names("oci/oci.cpp")) +
               ["application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json"])
    write_dict("docker_config", JSON + sorted(quoted_names("registry/credentials.cpp")) +
               ["https://index.docker.io/v1/", "docker.io", "localhost:5000", "dXNlcjpwYXNz"])
    write_dict("pypi_index", JSON + sorted(quoted_names("python/index.cpp")) +
               ["<a ", "</a>", "href=", "data-yanked", "data-requires-python=", "&amp;", "&#38;",
                "&#x26;", "#sha256=", "%2B", "../", "//", "https://", "?", "#"])
    write_dict("deb822", sorted(quoted_names("apt/deb822.cpp", "apt/index.cpp",
                                             "apt/resolve.cpp")) +
               [": ", "\n ", "\n .\n", "\n\n", "<<", "<=", ">=", ">>", "=", "|", ",", ":any",
                ":amd64", "(", ")", "[", "]", "1:", "~", "+", "-"])
    write_dict("inrelease", ["-----BEGIN PGP SIGNED MESSAGE-----", "-----BEGIN PGP SIGNATURE-----",
                             "-----END PGP SIGNATURE-----", "-----BEGIN PGP PUBLIC KEY BLOCK-----",
                             "-----END PGP PUBLIC KEY BLOCK-----", "- ", "Hash: SHA512", "\n\n",
                             "=", "SHA256:"])
    write_dict("requirements", ["--hash=sha256:" + "a" * 64, "==", " @ ", ";", " \\\n",
                                "-r ", "--requirement", "-i ", "--index-url", "--extra-index-url",
                                "--trusted-host", "-e ", "-c ", "--only-binary", ":all:",
                                "python_version", "python_full_version", "platform_machine",
                                "sys_platform", "os_name", "extra", "implementation_name",
                                " and ", " or ", " not in ", " in ", "===", "~=", "!=", "'", "(",
                                ")", "#"])
    write_dict("redistrib", JSON + sorted(quoted_names("bake/nvidia_manifest.cpp")) +
               ["linux-x86_64", "linux-sbsa", "linux-aarch64", "cuda12", "cuda_variant",
                "relative_path", "../", "a" * 64])
    write_dict("cdi_yaml", ["---", "...", ": ", "- ", "[", "]", "{}", "[]", "#", "'", '"', "''",
                            "~", "null", "true", "0o17", "0x10", ".inf", ".nan", "&a", "*a",
                            "!!str", "|", ">", "%YAML", "? ", "\\x41", "\\u00e9", "cdiVersion",
                            "kind", "nvidia.com/gpu", "devices", "name", "containerEdits",
                            "deviceNodes", "path", "hostPath", "mounts", "containerPath",
                            "options", "hooks", "hookName", "env", "major", "minor", "type",
                            "additionalGIDs", "fileMode"])
    write_dict("cache_index", JSON + DIGEST + sorted(quoted_names("bake/remote_cache.cpp")) +
               ["application/vnd.ocibake.cache.v1",
                "application/vnd.ocibake.cache.index.v1+json",
                "application/vnd.ocibake.cache.records.v1+json",
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.layer.v1.tar+gzip", "apt-layer", "layer-blob",
                "layer-shape", "apt-deb", "apt-image"])
    write_dict("www_authenticate", ["Bearer ", "Basic ", "realm=", "service=", "scope=", "error=",
                                    '"', "\\", ",", "insufficient_scope"])


def main():
    # Reproducers of fixed bugs (regress-*) stay; everything else is made again.
    for f in OUT.rglob("*"):
        if f.is_file() and not f.name.startswith("regress-"):
            f.unlink()
    for make in [recipes, locks, requirements, pylock, deb822, pypi, oci, registry, cdi, layers,
                 debs, wheels, cache_index, archives, redistrib, dictionaries]:
        make()
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"fuzz/corpus: {sum(1 for f in OUT.rglob('*') if f.is_file())} files, {total} bytes")


if __name__ == "__main__":
    main()

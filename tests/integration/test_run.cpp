// `ocibake run` under a real OCI runtime (runc on the development machines): images built
// by ocibake from the host's static busybox, run with their own config, overrides, bind
// mounts, a read-only root and each network mode; and how the runtime is picked.
#include "ocibake/image.hpp"
#include "ocibake/runtime.hpp"
#include "support/checks.hpp"
#include "support/tar.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

using namespace ocibake;
using namespace ocibake::test;
namespace fs = std::filesystem;

namespace {

CommandResult ocibake_run(const ScratchDir& dir, std::vector<std::string> args) {
    // Options before the image, as `docker run` reads them; `args` follow the image (the
    // older `IMAGE OPTIONS -- CMD` form, still read, or a command).
    args.insert(args.begin(), (dir / "img").string());
    return run_container(dir / "cache", args, {"TMPDIR=" + dir.path().string()});
}

const char* kImage = R"(
[config]
entrypoint = ["/bin/sh", "-c"]
cmd = ["echo from-cmd; id -u; pwd; echo $GREETING"]
env = { GREETING = "hello" }
workdir = "/srv"

[[layer]]
name = "files"
  [[layer.files]]
  path = "/etc/passwd"
  content = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
  [[layer.files]]
  path = "/etc/group"
  content = "root:x:0:\napp:x:1000:\n"
  [[layer.files]]
  path = "/srv"
  type = "dir"
  [[layer.files]]
  path = "/bin/id"
  type = "symlink"
  target = "busybox"
)";

} // namespace

TEST_CASE(
    "ocibake run: the image's entrypoint, cmd, env and workdir, and the exit code passes through") {
    ScratchDir dir("run");
    busybox_image(dir, kImage);
    CommandResult r = ocibake_run(dir, {});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "from-cmd\n0\n/srv\nhello\n");

    r = ocibake_run(dir, {"-e", "GREETING=bye", "-u", "app", "-w", "/tmp", "--",
                          "id -u; id -g; pwd; echo $GREETING $HOME; exit 7"});
    CHECK(r.exit_code == 7);
    CHECK(r.out == "1000\n1000\n/tmp\nbye /home/app\n");

    r = ocibake_run(dir, {"--entrypoint", "/bin/busybox", "--", "hostname"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "ocibake\n");
    r = ocibake_run(dir, {"--entrypoint", "/bin/cat", "--", "/etc/hosts"});
    CHECK(r.out == "127.0.0.1\tlocalhost ocibake\n::1\tlocalhost ip6-localhost ip6-loopback\n");

    // Nothing is left behind: the bundle is removed.
    for (const auto& e : fs::directory_iterator(dir.path())) {
        CHECK(e.path().filename().string().rfind("ocibake-bundle-", 0) != 0);
    }
}

TEST_CASE("ocibake run: /etc/hosts and /etc/hostname are written into an overlay root, and "
          "mounted where a symlink or a read-only root asks for it") {
    ScratchDir dir("run");
    busybox_image(dir, kImage);
    const std::string show = "grep -c -e ' /etc/hosts ' -e ' /etc/hostname ' "
                             "/proc/self/mountinfo; echo 10.1.2.3 extra >> /etc/hosts && "
                             "tail -n 1 /etc/hosts; ls -ln /etc/hosts | cut -c1-10; "
                             "cat /etc/hostname";
    CommandResult r = ocibake_run(dir, {"--", show});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "0\n10.1.2.3 extra\n-rw-r--r--\nocibake\n");
    // --read-only: mounted, so that they stay writable (as Docker's).
    r = ocibake_run(dir, {"--read-only", "--", show});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "2\n10.1.2.3 extra\n-rw-r--r--\nocibake\n");

    // The image's /etc/hosts is a symlink to a path that also exists on the host: nothing is
    // written through it on the host; the runtime mounts over it inside the root.
    ScratchDir link("run");
    write_file(link / "host-hosts", "the host's own\n");
    busybox_image(link, std::string(kImage) + R"(
[[layer]]
name = "link"
  [[layer.files]]
  path = "/etc/hosts"
  type = "symlink"
  target = ")" + (link / "host-hosts").string() +
                            R"("
)");
    r = ocibake_run(link,
                    {"--", "cat /etc/hosts; grep -c ' /etc/hosts ' /proc/self/mountinfo; true"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "127.0.0.1\tlocalhost ocibake\n::1\tlocalhost ip6-localhost ip6-loopback\n0\n");
    CHECK(read_file(link / "host-hosts") == "the host's own\n");
}

TEST_CASE("ocibake run: bind mounts, a read-only root, network none and host") {
    ScratchDir dir("run");
    busybox_image(dir, kImage);
    write_file(dir / "vol/in.txt", "from the host\n");
    CommandResult r = ocibake_run(
        dir, {"-v", (dir / "vol").string() + ":/data:ro", "-v", (dir / "rw").string() + ":/rw",
              "--read-only", "--",
              "cat /data/in.txt; echo x > /data/new || echo data-ro; echo y > /srv/new || echo "
              "root-ro; echo z > /rw/out && echo rw-ok"});
    // The rw volume does not exist: a usage error before anything runs.
    CHECK(r.exit_code == 2);
    CHECK(r.err == "ocibake: error: volume '" + (dir / "rw").string() +
                       ":/rw': " + (dir / "rw").string() + " does not exist\n");
    fs::create_directories(dir / "rw");
    r = ocibake_run(
        dir, {"-v", (dir / "vol").string() + ":/data:ro", "-v", (dir / "rw").string() + ":/rw",
              "--read-only", "--",
              "cat /data/in.txt; echo x > /data/new || echo data-ro; echo y > /srv/new || echo "
              "root-ro; echo z > /rw/out && echo rw-ok"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "from the host\ndata-ro\nroot-ro\nrw-ok\n");
    CHECK(read_file(dir / "rw/out") == "z\n");
    CHECK_FALSE(fs::exists(dir / "vol/new"));

    // The default: a namespace of its own, out through slirp4netns's tap0; none: loopback.
    r = ocibake_run(dir, {"--", "ls /sys/class/net"});
    CHECK(r.out == "lo\ntap0\n");
    r = ocibake_run(dir, {"--network", "none", "--", "ls /sys/class/net"});
    CHECK(r.out == "lo\n");
    r = ocibake_run(dir, {"--network", "host", "--", "ls /sys/class/net | wc -l"});
    CHECK(r.out != "1\n");
}

TEST_CASE("ocibake run --keep-bundle keeps the bundle: rootfs and config.json") {
    ScratchDir dir("run");
    busybox_image(dir, kImage);
    CommandResult r = ocibake_run(dir, {"--keep-bundle", (dir / "b").string(), "--", "true"});
    CHECK(r.exit_code == 0);
    CHECK(fs::exists(dir / "b/rootfs/bin/busybox"));
    CHECK(read_file(dir / "b/config.json").find("\"ociVersion\": \"1.0.2\"") != std::string::npos);
    r = ocibake_run(dir, {"--keep-bundle", (dir / "b").string(), "--", "true"});
    CHECK(r.exit_code == 5);
    CHECK(r.err == "ocibake: error: bundle directory " + (dir / "b").string() +
                       " exists and is not empty\n");
}

TEST_CASE("the runtime: the first that works, with why the others were passed over") {
    ScratchDir dir("rt");
    ocibake::test::require_program("runc", "runc");
    // A crun that behaves as Debian's crun 1.8 on a cgroup v1 hybrid host.
    write_file(dir / "bin/crun", R"(#!/bin/sh
case "$1" in --version) echo "crun version 1.8.1"; exit 0;; delete|kill) exit 0;; esac
for a; do case "$a" in --log=*) log="${a#--log=}";; esac; done
echo '{"msg": "cgroups in hybrid mode not supported", "level": "error"}' >> "$log"
echo 'cgroups in hybrid mode not supported' >&2
exit 1
)",
               0755);
    std::string path = (dir / "bin").string() + ":" + std::getenv("PATH");
    ::setenv("PATH", path.c_str(), 1);

    OciRuntime picked = find_runtime({});
    CHECK(picked.name() == "runc");
    CHECK(picked.version().rfind("runc version", 0) == 0);

    RuntimeSearch only_crun;
    only_crun.candidates = {"crun", "no-such-runtime"};
    Caught c = error_of([&] { find_runtime(only_crun); });
    CHECK(c.kind == ErrorKind::runtime);
    CHECK(c.what == "no working OCI runtime (tried:\n  crun: " + (dir / "bin/crun").string() +
                        " cannot run containers here: cgroups in hybrid mode not supported\n"
                        "  no-such-runtime: not found on PATH)\n"
                        "hint: install runc (Debian package 'runc') or crun, or pass --runtime "
                        "PATH");

    RuntimeSearch given;
    given.runtime = dir / "nothing-here";
    CHECK(error_of([&] { find_runtime(given); }).what ==
          "no working OCI runtime (tried:\n  " + (dir / "nothing-here").string() + ": " +
              (dir / "nothing-here").string() +
              " is not an executable file)\nhint: install runc (Debian package 'runc') or crun, "
              "or pass --runtime PATH");
    given.runtime = "runc";
    CHECK(find_runtime(given).name() == "runc");
}

TEST_CASE("ocibake run -t gives the container a terminal and -i keeps stdin") {
    ScratchDir dir("run");
    busybox_image(dir, kImage);
    // `script` gives ocibake a pseudo-terminal; with -t the container gets one of its own.
    auto on_terminal = [&](const std::string& flags) {
        std::string cmd = "TMPDIR='" + dir.path().string() + "' '" + ocibake::test::cli().string() +
                          "' run --cache-dir '" + (dir / "cache").string() + "' " + flags + " '" +
                          (dir / "img").string() + "' 'tty; echo TERM=${TERM:-unset}; exit 3'";
        return run({"script", "-qec", cmd, "/dev/null"});
    };
    CommandResult tty = on_terminal("-it");
    INFO(tty.out << tty.err);
    CHECK(tty.exit_code == 3);
    CHECK(tty.out.find("/dev/pts/0") != std::string::npos);
    CHECK(tty.out.find("TERM=xterm") != std::string::npos);
    // Without -t there is none, on a terminal too (as Docker).
    CommandResult plain = on_terminal("");
    CHECK(plain.exit_code == 3);
    CHECK(plain.out.find("not a tty") != std::string::npos);
    CHECK(plain.out.find("TERM=unset") != std::string::npos);
    CommandResult pipe = ocibake_run(dir, {"--", "tty; echo TERM=${TERM:-unset}"});
    CHECK(pipe.out == "not a tty\nTERM=unset\n");

    // -i: the container reads this process's stdin; without it, /dev/null.
    std::vector<std::string> argv = {ocibake::test::cli().string(), "run", "--cache-dir",
                                     (dir / "cache").string(),      "-i",  (dir / "img").string(),
                                     "read line; echo got=$line"};
    CommandResult in = run(argv, {"TMPDIR=" + dir.path().string()}, {}, "hello\n");
    CHECK(in.out == "got=hello\n");
    argv.erase(argv.begin() + 4);
    in = run(argv, {"TMPDIR=" + dir.path().string()}, {}, "hello\n");
    CHECK(in.out == "got=\n");
    // -t needs a terminal, -it one on stdin (Docker's words).
    argv.insert(argv.begin() + 4, "-it");
    in = run(argv, {"TMPDIR=" + dir.path().string()}, {}, "hello\n");
    CHECK(in.exit_code == 2);
    CHECK(in.err == "ocibake: error: -it: the input device is not a TTY (stdin is a pipe or a "
                    "file): leave out -t, or run from a terminal\n");
    argv[4] = "-t";
    argv.insert(argv.begin(), "setsid"); // no controlling terminal either
    in = run(argv, {"TMPDIR=" + dir.path().string()});
    CHECK(in.exit_code == 2);
    CHECK(in.err == "ocibake: error: -t: there is no terminal here (stdin, stdout and stderr are "
                    "not terminals and there is no controlling terminal) to relay the "
                    "container's to: leave out -t\n");
}

TEST_CASE("ocibake run -it: the window size follows the terminal and Ctrl-C reaches the shell") {
    ScratchDir dir("run-pty");
    busybox_image(dir, "[[layer]]\nname = \"more\"\n"
                       "[[layer.files]]\npath = \"/bin/stty\"\ntype = \"symlink\"\ntarget "
                       "= \"busybox\"\n"
                       "[[layer.files]]\npath = \"/bin/sleep\"\ntype = \"symlink\"\ntarget "
                       "= \"busybox\"\n");
    // A user at a 33x101 terminal: resizes it to 40x120, types "go", presses Ctrl-C.
    CommandResult r =
        run({"python3", (ocibake::test::source_dir() / "tests/fixtures/pty_session.py").string(),
             ocibake::test::cli().string(), "run", "--cache-dir", (dir / "cache").string(), "-it",
             (dir / "img").string(), "sh", "-c",
             // The resize reaches the container's terminal a moment after the key
             // presses may: up to 5 s to see it.
             "echo size1=$(stty size); read x; i=0; "
             "while [ \"$(stty size)\" = '33 101' ] && [ $i -lt 50 ]; do sleep 0.1; "
             "i=$((i+1)); done; echo size2=$(stty size) x=$x; "
             "trap 'echo got-int; exit 7' INT; echo waiting; while :; do sleep 0.1; done"},
            {"TMPDIR=" + dir.path().string()});
    INFO(r.out << r.err);
    CHECK(r.out.find("size1=33 101\r\n") != std::string::npos);
    CHECK(r.out.find("size2=40 120 x=go\r\n") != std::string::npos);
    // Ctrl-C is a key for the container's terminal, which sends SIGINT to its shell.
    CHECK(r.out.find("got-int\r\n") != std::string::npos);
    CHECK(r.out.ends_with("exit=7\n"));
}

TEST_CASE("ocibake run -t without -i: Ctrl-C stops the container, as docker run -t does") {
    ScratchDir dir("run-pty-t");
    busybox_image(dir, "[[layer]]\nname = \"more\"\n"
                       "[[layer.files]]\npath = \"/bin/sleep\"\ntype = \"symlink\"\ntarget "
                       "= \"busybox\"\n");
    // The runtime puts the terminal in raw mode (it relays the container's output to it),
    // so Ctrl-C is a key, not a signal; nobody read it, and the container ran on. ocibake
    // reads it and sends SIGINT, through `runc kill`: runc takes a SIGINT of its own as
    // the cue to exit 0 and leave the container running.
    CommandResult r =
        run({"python3", (ocibake::test::source_dir() / "tests/fixtures/pty_session.py").string(),
             ocibake::test::cli().string(), "run", "--cache-dir", (dir / "cache").string(), "-t",
             (dir / "img").string(), "sh", "-c",
             "trap 'echo got-int; exit 7' INT; echo waiting; while :; do sleep 0.1; done"},
            {"TMPDIR=" + dir.path().string()});
    INFO(r.out << r.err);
    CHECK(r.out.find("got-int\r\n") != std::string::npos);
    CHECK(r.out.ends_with("exit=7\n"));
}

namespace {

/// A plain tar with these entries, made by Python's tarfile (nothing checked): 'f' file,
/// 'l' symlink to `data`.
std::string hostile_tar(const fs::path& dir, const std::string& entries_py) {
    fs::path out = dir / "layer.tar";
    must({"python3", "-c",
          "import io, sys, tarfile\n"
          "t = tarfile.open(sys.argv[1], 'w', format=tarfile.GNU_FORMAT)\n"
          "for name, kind, data in " +
              entries_py +
              ":\n"
              "    i = tarfile.TarInfo(name)\n"
              "    if kind == 'l':\n"
              "        i.type = tarfile.SYMTYPE; i.linkname = data; t.addfile(i)\n"
              "    else:\n"
              "        i.size = len(data); t.addfile(i, io.BytesIO(data.encode()))\n"
              "t.close()\n",
          out.string()});
    return read_file(out);
}

} // namespace

TEST_CASE("build: a base layer `run` would refuse is a warning, and an error with --strict") {
    ScratchDir dir("hostile-base");
    // The base: an OCI layout whose second layer writes through the first one's symlink.
    fs::path base = dir / "base";
    std::vector<LayerResult> layers;
    {
        Store store(dir / "make");
        Image image;
        image.config.platform = oci::Platform::parse("linux/amd64");
        std::vector<std::string> tars = {
            hostile_tar(dir.path(), "[('etc/hostname', 'f', 'base\\n'), ('escape', 'l', '/tmp')]"),
            hostile_tar(dir.path(), "[('escape/pwned', 'f', 'x')]")};
        for (const std::string& tar : tars) {
            LayerResult l = put_tar_layer(store, tar);
            image.add_layer(l, "hostile");
            layers.push_back(l);
        }
        write_image(store, assemble_image(store, image),
                    OutputTarget::parse("oci:" + base.string()), "base", "latest");
    }
    fs::path recipe =
        write_file(dir / "app.toml", "name = \"app\"\n[base]\nimage = \"oci:" + base.string() +
                                         "\"\n[[layer]]\nname = \"conf\"\n[[layer.files]]\npath = "
                                         "\"/etc/app.conf\"\ncontent = \"x=1\\n\"\n");
    const std::string bad = "layer 2 (" + layers[1].descriptor.digest.str() +
                            "): entry 'escape/pwned': 'escape' is a symlink to '/tmp', outside "
                            "the image root";
    auto build = [&](std::vector<std::string> more) {
        std::vector<std::string> argv = {
            ocibake::test::cli().string(),   "build",       recipe.string(),         "--json", "-o",
            "oci:" + (dir / "img").string(), "--cache-dir", (dir / "cache").string()};
        argv.insert(argv.end(), more.begin(), more.end());
        return run(argv, {"HOME=" + (dir / "home").string()});
    };

    // By default: one warning line naming the layer and its first bad entry; exit 0.
    CommandResult warned = build({});
    INFO(warned.err);
    REQUIRE(warned.exit_code == 0);
    CHECK(warned.err == "warning: base " + bad +
                            " (ocibake run would refuse it; build --strict refuses this base)\n");
    auto result = nlohmann::json::parse(warned.out);
    CHECK(result["base_checks"] ==
          nlohmann::json::parse(R"([{"status": "passed"}, {"status": "refused", "detail": )" +
                                nlohmann::json(bad).dump() + "}]"));
    // The verdict is kept: a second build says the same without reading the layers.
    CHECK(build({}).err == warned.err);

    // --strict: refused, exit 4, nothing written.
    fs::remove_all(dir / "img");
    CommandResult strict = build({"--strict"});
    CHECK(strict.exit_code == 4);
    CHECK(strict.err.find("base oci:" + base.string() + ": " + bad +
                          " (--strict refuses a base that `ocibake run` would refuse)") !=
          std::string::npos);
    CHECK_FALSE(fs::exists(dir / "img"));

    // What `build` warned of is what `run` refuses: the same rules, the same message.
    build({});
    ocibake::test::require_program("runc", "runc");
    CommandResult ran = ocibake_run(dir, {"/bin/true"});
    CHECK(ran.exit_code == 4);
    CHECK(ran.err.find(bad) != std::string::npos);
}

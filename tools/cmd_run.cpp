// `ocibake run`: flags parsed as `docker run` parses them, then the library does the run.
#include "cmd_run.hpp"

#include "cmd_container.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <tuple>
#include <unistd.h>

namespace ocibake::cli {

namespace {

/// The option a word names ("-v", "--volume", "--volume=x", "-vx"), or nullptr.
const CLI::Option* option_of(const CLI::App& run, const std::string& word) {
    if (word.size() < 2 || word[0] != '-' || word == "--") {
        return nullptr;
    }
    if (word.starts_with("--")) {
        return run.get_option_no_throw(word.substr(0, word.find('=')));
    }
    return run.get_option_no_throw(word.substr(0, 2));
}

/// True when `word` is an option whose value is the next word (`-v X`, not `-vX`, not
/// `--volume=X`, not a flag).
bool value_follows(const CLI::App& run, const std::string& word) {
    const CLI::Option* opt = option_of(run, word);
    if (opt == nullptr || opt->get_expected_max() == 0) {
        return false;
    }
    return word.starts_with("--") ? word.find('=') == std::string::npos : word.size() == 2;
}

/// The end of the options starting at `from`: the index of the first word that is not an
/// option of `run` nor an option's value (or `--`).
std::size_t options_end(const CLI::App& run, const std::vector<std::string>& args,
                        std::size_t from) {
    std::size_t i = from;
    while (i < args.size() && option_of(run, args[i]) != nullptr) {
        i += value_follows(run, args[i]) ? 2 : 1;
    }
    return std::min(i, args.size());
}

/// Says so when the container has no way out (slirp4netns missing, or failed once
/// waited for); true then.
bool warn_if_no_way_out(const PortForwarder& net) {
    if (net.outbound_problem().empty()) {
        return false;
    }
    std::fprintf(stderr,
                 "ocibake: warning: no outbound network for the container, loopback only "
                 "(published ports still work): %s; install it (apt-get install slirp4netns) "
                 "or use --network host\n",
                 net.outbound_problem().c_str());
    return true;
}

/// The container's network in private mode (the default): a namespace of its own, with
/// slirp4netns for a way out and the published ports bound now (a busy one fails the run
/// before anything is unpacked), not relaying yet. Nothing for --network none and host.
std::optional<PortForwarder> make_network(const RunFlags& f, ContainerOverrides& o) {
    std::vector<PortMapping> ports;
    for (const std::string& p : f.publish) {
        ports.push_back(PortMapping::parse(p));
    }
    bool publishing = !ports.empty() || f.publish_all;
    std::string what = ports.empty() ? "-P" : "-p " + f.publish.front();
    if (f.network == "none") {
        if (publishing) {
            throw Error(ErrorKind::usage, what + ": --network none has no network to publish "
                                                 "into (loopback only); leave --network out");
        }
        return std::nullopt;
    }
    if (f.network == "host") {
        if (publishing) { // Docker's words, and Docker's behaviour
            std::fprintf(stderr,
                         "WARNING: Published ports are discarded when using host network mode\n");
        }
        return std::nullopt;
    }
    NetworkOptions options;
    options.outbound = true;
    options.start = false;
    PortForwarder net = PortForwarder::create(ports, options); // slirp4netns starting
    if (!warn_if_no_way_out(net)) {
        o.resolv_conf = net.resolv_conf();
    }
    o.network_namespace = net.namespace_path();
    return net;
}

/// -P: the image's exposed ports ("8888/tcp"), each on a free host port of every address.
std::vector<PortMapping> exposed_ports(const oci::ImageConfig& config) {
    std::vector<PortMapping> out;
    for (const std::string& port : config.config.exposed_ports) {
        out.push_back(
            PortMapping::parse(port.find('/') == std::string::npos ? port + "/tcp" : port));
    }
    std::sort(out.begin(), out.end(), [](const PortMapping& a, const PortMapping& b) {
        return std::tie(a.container_port, a.protocol) < std::tie(b.container_port, b.protocol);
    });
    return out;
}

/// Publishes -P's ports, says which host ports were picked (as `docker port` prints
/// them), and starts relaying (attached; a detached container's monitor starts it).
void ready_network(PortForwarder& net, const RunFlags& f, const oci::ImageConfig& config) {
    if (f.publish_all) {
        net.add(exposed_ports(config));
    }
    if (net.outbound_problem().empty() && !net.outbound()) { // waits for slirp4netns
        warn_if_no_way_out(net);
    }
    for (const PublishedPort& p : net.published()) {
        if (p.picked) {
            std::fprintf(stderr, "%s\n", p.docker_port().c_str());
        }
    }
    if (!f.detach) {
        net.start();
    }
}

/// -t: the runtime relays the container's pseudo-terminal to this process's terminal (on
/// stdin, stdout or stderr, else the controlling one); Error(usage) when there is none.
void check_terminal(bool interactive) {
    if (interactive && ::isatty(0) == 0) {
        throw Error(ErrorKind::usage, "-it: the input device is not a TTY (stdin is a pipe or a "
                                      "file): leave out -t, or run from a terminal");
    }
    if (::isatty(0) || ::isatty(1) || ::isatty(2)) {
        return;
    }
    int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (tty < 0) {
        throw Error(ErrorKind::usage, "-t: there is no terminal here (stdin, stdout and stderr "
                                      "are not terminals and there is no controlling terminal) "
                                      "to relay the container's to: leave out -t");
    }
    ::close(tty);
}

ContainerOverrides overrides_of(const RunFlags& f) {
    ContainerOverrides o;
    if (f.entrypoint) {
        std::vector<std::string> args;
        if (!f.entrypoint->empty()) {
            args.push_back(*f.entrypoint);
        }
        args.insert(args.end(), f.command.begin(), f.command.end());
        o.args = args;
    } else if (!f.command.empty()) {
        o.cmd = f.command;
    }
    for (const std::string& kv : f.env) {
        if (kv.empty() || kv[0] == '=') {
            throw Error(ErrorKind::usage, "-e '" + kv + "' must be KEY=VALUE");
        }
        const char* value = std::getenv(kv.c_str());
        o.env.push_back(kv.find('=') == std::string::npos ? kv + "=" + (value ? value : "") : kv);
    }
    for (const std::string& v : f.volumes) {
        o.mounts.push_back(Mount::parse_volume(v));
    }
    for (const std::string& u : f.ulimits) {
        o.rlimits.push_back(Rlimit::parse(u));
    }
    o.network = f.network == "host" ? Network::host : Network::none;
    o.read_only_root = f.read_only;
    o.user = f.user.empty() ? std::nullopt : std::optional(f.user);
    o.workdir = f.workdir.empty() ? std::nullopt : std::optional(f.workdir);
    if (!f.hostname.empty()) {
        check_hostname(f.hostname);
        o.hostname = f.hostname;
    }
    if (!f.shm_size.empty()) {
        std::uint64_t size = parse_size(f.shm_size, "--shm-size");
        if (size != 0) { // 0: the default, as with Docker
            o.shm_size = size;
        }
    }
    o.host_ipc = f.ipc == "host";
    if (o.host_ipc && !f.shm_size.empty()) {
        std::fprintf(stderr, "ocibake: warning: --shm-size has no effect with --ipc host (the "
                             "host's /dev/shm is mounted)\n");
    }
    o.terminal = f.tty && !f.detach;
    if (o.terminal) {
        check_terminal(f.interactive);
    }
    return o;
}

/// Says so when the container's user cannot write to a read-write volume: a bind mount
/// keeps the host's owners (runc 1.1 has no idmapped mounts), docs/cli.md says what to do.
void warn_unwritable_volumes(const ContainerSpec& spec, const std::vector<Mount>& volumes) {
    if (spec.uid == 0) {
        return; // root writes anywhere (CAP_DAC_OVERRIDE)
    }
    for (const Mount& m : volumes) {
        struct stat st = {};
        bool read_only = std::find(m.options.begin(), m.options.end(), "ro") != m.options.end();
        if (read_only || ::stat(m.source.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
            continue;
        }
        bool in_group = st.st_gid == spec.gid ||
                        std::find(spec.additional_gids.begin(), spec.additional_gids.end(),
                                  st.st_gid) != spec.additional_gids.end();
        mode_t bit = st.st_uid == spec.uid ? S_IWUSR : in_group ? S_IWGRP : S_IWOTH;
        if ((st.st_mode & bit) != 0) {
            continue;
        }
        std::string owner = std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid);
        std::string user = std::to_string(spec.uid) + ":" + std::to_string(spec.gid);
        std::fprintf(stderr,
                     "ocibake: warning: -v %s:%s: the container runs as %s, which cannot write "
                     "to %s (owned by %s, mode %04o; a volume keeps the host's owners): run as "
                     "its owner (--user %s) or give it to %s (chown %s %s)\n",
                     m.source.c_str(), m.destination.c_str(), user.c_str(), m.source.c_str(),
                     owner.c_str(), static_cast<unsigned>(st.st_mode & 07777), owner.c_str(),
                     user.c_str(), user.c_str(), m.source.c_str());
    }
}

} // namespace

void add_run_options(CLI::App* run, RunFlags& f) {
    run->set_help_flag("--help", "Print this help message and exit"); // -h is --hostname
    run->add_option("-v,--volume", f.volumes, "Bind mount HOST:CONTAINER[:ro|:rw]")
        ->allow_extra_args(false);
    run->add_option("-e,--env", f.env, "Set KEY=VALUE in the container")->allow_extra_args(false);
    run->add_option("-p,--publish", f.publish,
                    "Publish a container port: [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp] "
                    "(every address of the host unless IP is given, as Docker)")
        ->allow_extra_args(false);
    run->add_flag("-P,--publish-all", f.publish_all,
                  "Publish the image's exposed ports, each on a free host port (printed)");
    run->add_option("--network", f.network,
                    "private (the default: a network namespace of its own, outbound through "
                    "slirp4netns, ports published with -p), none (loopback only) or host")
        ->check(CLI::IsMember({"private", "none", "host"}));
    run->add_option("-h,--hostname", f.hostname, "The container's hostname (default ocibake)");
    run->add_option("--shm-size", f.shm_size, "Size of /dev/shm, e.g. 8g (default 64m)");
    run->add_option("--ipc", f.ipc, "private (the default) or host (the host's /dev/shm)")
        ->check(CLI::IsMember({"private", "host"}));
    run->add_option("--ulimit", f.ulimits, "A resource limit: NAME=SOFT[:HARD], e.g. nofile=1024")
        ->allow_extra_args(false);
    run->add_flag("--read-only", f.read_only, "Mount the image's root file system read-only");
    run->add_option("-u,--user", f.user, "User: name, uid, name:group or uid:gid");
    run->add_option("-w,--workdir", f.workdir, "Working directory in the container");
    run->add_option("--entrypoint", f.entrypoint,
                    "Replaces the entrypoint (\"\" clears it; the command follows it)");
    run->add_option("--gpus", f.gpus, "NVIDIA GPUs: none (the default), all, or a list like 0,1");
    run->add_option("--runtime", f.runtime, "The OCI runtime (default: crun, else runc)");
    run->add_option("--keep-bundle", f.keep_bundle,
                    "Unpack into DIR (must not exist) and keep it afterwards");
    run->add_flag("-i,--interactive", f.interactive,
                  "Keep stdin open and attached (without it stdin is /dev/null, as Docker)");
    run->add_flag("-t,--tty", f.tty,
                  "Give the container a pseudo-terminal, relayed to this one (-it for a shell)");
    run->add_flag("-d,--detach", f.detach, "Run in the background and print its id");
    run->add_option("--name", f.name, "A name for the container (ps, stop, exec, logs)");
    run->add_flag("--rm", f.remove, "With -d: remove it when it exits (attached runs always are)");
}

std::vector<std::string> split_run_args(const CLI::App& run, const std::vector<std::string>& args,
                                        RunFlags& flags) {
    std::size_t i = 0;
    while (i < args.size() && args[i].size() > 1 && args[i][0] == '-' && args[i] != "--") {
        i += value_follows(run, args[i]) ? 2 : 1; // an unknown one is CLI11's to refuse
    }
    i = std::min(i, args.size());
    std::vector<std::string> options(args.begin(), args.begin() + static_cast<long>(i));
    if (i < args.size() && args[i] == "--") {
        ++i; // `run [OPTIONS] -- IMAGE ...`
    }
    if (i < args.size()) {
        flags.image = args[i++];
    }
    auto dashes = std::find(args.begin() + static_cast<long>(i), args.end(), "--");
    std::size_t d = static_cast<std::size_t>(dashes - args.begin());
    if (dashes != args.end() && d > i && options_end(run, args, i) == d) {
        options.insert(options.end(), args.begin() + static_cast<long>(i), dashes);
        i = d; // the older `IMAGE OPTIONS -- COMMAND`
    }
    if (i < args.size() && args[i] == "--") {
        ++i;
    }
    flags.command.assign(args.begin() + static_cast<long>(i), args.end());
    return options;
}

RuntimeSearch runtime_search(const std::string& runtime) {
    RuntimeSearch search;
    if (!runtime.empty()) {
        search.runtime = runtime;
    }
    return search;
}

int run_command_in_image(const RunFlags& f, const std::string& cache_dir,
                         const registry::Options& registry_options) {
    if (f.image.empty()) {
        throw Error(ErrorKind::usage, "ocibake run needs an IMAGE: ocibake run [OPTIONS] IMAGE "
                                      "[COMMAND [ARG...]]");
    }
    ContainerOverrides o = overrides_of(f);
    std::optional<PortForwarder> net = make_network(f, o);
    RunTarget target{f.image,
                     cache_dir,
                     f.keep_bundle,
                     f.gpus,
                     runtime_search(f.runtime),
                     registry_options,
                     f.detach,
                     f.interactive,
                     f.name,
                     f.remove,
                     [&f, &net, volumes = o.mounts](const Bundle& bundle, ContainerSpec& spec) {
                         warn_unwritable_volumes(spec, volumes);
                         if (net) {
                             ready_network(*net, f, bundle.image_config());
                         }
                     },
                     {},
                     {}};
    if (net) {
        target.ports = [&net] {
            std::vector<std::string> shown;
            for (const PublishedPort& p : net->published()) {
                shown.push_back(p.docker_ps());
            }
            return shown;
        };
        if (f.detach) { // the monitor relays: this process only bound the sockets
            target.monitor = {[&net] { return net->fds(); }, [&net] { net->start(); }};
        }
    }
    int exit_code = run_container(o, target);
    if (net && f.detach) {
        net->hand_over(); // slirp4netns is the monitor's now
    }
    net.reset(); // the ports are released now, not after the bundle is removed
    return exit_code;
}

Command add_run(CLI::App& app, Shared& s, RunFlags& flags) {
    auto* run = app.add_subcommand(
        "run", "Run a command in an image: unpacked into a bundle, run by crun or runc\n"
               "  ocibake run [OPTIONS] IMAGE [COMMAND [ARG...]]   (as docker run; IMAGE is\n"
               "  oci:DIR[:TAG], docker-archive:FILE, a path, or docker://REGISTRY/REPO:TAG)");
    add_run_options(run, flags);
    s.add_cache_dir(run);
    return s.registry_command(run, [&flags, &s] {
        return run_command_in_image(flags, s.cache_dir, s.registry.options());
    });
}

} // namespace ocibake::cli

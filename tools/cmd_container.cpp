// The CLI's container commands: run's last step, ps, stop, exec, logs, rm.
#include "cmd_container.hpp"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <unistd.h>

namespace ocibake::cli {

namespace {

std::string size_text(std::uint64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
    return buf;
}

/// The GPU edits `--gpus` asks for, as a RunRequest adjustment (none for "none").
std::function<void(const ocibake::Bundle&, ocibake::ContainerSpec&)>
gpu_adjust(const std::string& text) {
    ocibake::GpuRequest gpus = ocibake::GpuRequest::parse(text);
    if (gpus.kind == ocibake::GpuRequest::Kind::none) {
        return {};
    }
    return [gpus, text](const ocibake::Bundle& bundle, ocibake::ContainerSpec& spec) {
        auto edits = ocibake::find_gpus({}, gpus, spec.env);
        if (!edits) {
            throw ocibake::Error(ocibake::ErrorKind::runtime,
                                 "--gpus " + text + ": " +
                                     ocibake::no_gpu_reason({}, gpus, spec.env));
        }
        std::fprintf(stderr, "ocibake: %s\n", edits->summary().c_str());
        ocibake::apply_gpu_edits(*edits, bundle, spec);
    };
}

/// `ps`, `stop`, `exec`, `logs`, `rm`'s flags (one set: only one of them runs).
struct ContainerFlags {
    bool all = false;
    bool json = false;
    bool force = false;
    bool tty = false;
    int timeout = 10;
    std::vector<std::string> names;
    std::string target; ///< exec, logs: the one container
    std::vector<std::string> command;
};

int print_ps(const ContainerFlags& c, const std::filesystem::path& state) {
    std::vector<ocibake::ContainerInfo> shown;
    for (ocibake::ContainerInfo& i : ocibake::list_containers(state)) {
        if (c.all || i.status == "running") {
            shown.push_back(std::move(i));
        }
    }
    if (c.json) {
        print_json(ocibake::to_json(shown));
        return 0;
    }
    std::printf("%-12s  %-20s  %-10s  %-20s  %-30s  %s\n", "ID", "NAME", "STATUS", "CREATED",
                "IMAGE", "PORTS");
    for (const ocibake::ContainerInfo& i : shown) {
        std::string status = i.status;
        if (i.exit_code) {
            status += " (" + std::to_string(*i.exit_code) + ")";
        }
        std::string ports;
        for (const std::string& p : i.ports) {
            ports += (ports.empty() ? "" : ", ") + p;
        }
        std::printf("%-12s  %-20s  %-10s  %-20s  %-30s  %s\n", i.id.c_str(), i.name.c_str(),
                    status.c_str(), i.created.c_str(), i.image.c_str(), ports.c_str());
    }
    return 0;
}

int copy_file_to(const std::filesystem::path& path, std::FILE* out) {
    std::ifstream in(path, std::ios::binary);
    char buf[65536];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        std::fwrite(buf, 1, static_cast<std::size_t>(in.gcount()), out);
    }
    return 0;
}

int stop_containers(const ContainerFlags& c, const std::filesystem::path& state) {
    for (const std::string& name : c.names) {
        ocibake::stop_container(state, name, std::chrono::seconds(c.timeout));
        std::printf("%s\n", name.c_str());
    }
    return 0;
}

int print_logs(const ContainerFlags& c, const std::filesystem::path& state) {
    auto [out, err] = ocibake::container_logs(state, c.target);
    std::fflush(stdout);
    copy_file_to(out, stdout);
    copy_file_to(err, stderr);
    return 0;
}

int remove_containers(const ContainerFlags& c, const std::filesystem::path& state) {
    for (const std::string& name : c.names) {
        ocibake::remove_container(state, name, c.force);
        std::printf("%s\n", name.c_str());
    }
    return 0;
}

} // namespace

std::function<void(const ocibake::UnpackProgress&)> unpack_progress() {
    if (!::isatty(2)) {
        return {};
    }
    return [](const ocibake::UnpackProgress& p) {
        std::fprintf(stderr, "\r\033[Kunpacking layers: %zu/%zu done, %s written", p.layers_done,
                     p.layers_total, size_text(p.bytes).c_str());
        if (p.layers_done == p.layers_total) {
            std::fputs("\n", stderr);
        }
        std::fflush(stderr);
    };
}

int run_container(const ocibake::ContainerOverrides& overrides, const RunTarget& t) {
    ocibake::Interrupt interrupt;
    ocibake::SignalWatch signals(interrupt); // before any thread starts
    try {
        ocibake::RunRequest request;
        request.overrides = overrides;
        request.adjust = [gpus = gpu_adjust(t.gpus), before = t.adjust](
                             const ocibake::Bundle& bundle, ocibake::ContainerSpec& spec) {
            if (before) {
                before(bundle, spec);
            }
            if (gpus) {
                gpus(bundle, spec);
            }
        };
        request.mode = t.detach ? ocibake::RunMode::detached : ocibake::RunMode::attached;
        request.name = t.name;
        request.remove = t.remove;
        request.stdin_open = t.stdin_open && !t.detach;
        request.ports = t.ports;
        request.monitor = t.monitor;
        request.on_note = [](const std::string& note) {
            std::fprintf(stderr, "ocibake: %s\n", note.c_str());
        };
        if (t.detach) {
            request.overrides.terminal = false;
        }
        ocibake::RuntimeSearch search = t.runtime;
        search.verdicts = ocibake::default_state_dir();
        ocibake::OciRuntime runtime = ocibake::find_runtime(search);
        ocibake::PrepareOptions prepare;
        prepare.reference = t.image;
        prepare.cache_dir = t.cache_dir;
        prepare.registry = t.registry;
        prepare.keep_bundle = t.keep_bundle;
        prepare.on_progress = unpack_progress();
        ocibake::PreparedImage image = ocibake::prepare_image(prepare, &interrupt);
        if (image.mode() == ocibake::RootMode::copy && t.keep_bundle.empty()) {
            std::fprintf(stderr, "ocibake: no overlay (%s): unpacking the whole image\n",
                         image.fallback_reason().c_str());
        }
        if (!image.note().empty()) {
            std::fprintf(stderr, "ocibake: %s\n", image.note().c_str());
        }
        ocibake::RunOutcome out = ocibake::run_image(image, runtime, request, &interrupt);
        if (t.detach) {
            std::printf("%s\n", out.id.c_str());
            return 0;
        }
        return out.result.exit_code;
    } catch (const ocibake::Error& e) {
        if (e.kind() != ocibake::ErrorKind::interrupted || interrupt.signal() == 0) {
            throw;
        }
        std::fprintf(stderr, "ocibake: %s: stopped, nothing left behind\n", e.what());
        return 128 + interrupt.signal();
    }
}

std::vector<Command> add_container_commands(CLI::App& app) {
    auto c = std::make_shared<ContainerFlags>();
    auto* ps = app.add_subcommand("ps", "List containers (running ones; -a: all)");
    ps->add_flag("-a,--all", c->all, "Show exited and dead ones too");
    ps->add_flag("--json", c->json, "Print as JSON (schema ocibake.ps/1)");
    auto* stop = app.add_subcommand("stop", "Stop containers: their stop signal, then KILL");
    stop->add_option("-t,--time", c->timeout, "Seconds to wait before KILL (default 10)");
    stop->add_option("container", c->names, "Name or id")->required();
    auto* exec = app.add_subcommand("exec", "Run a command in a running container");
    exec->add_flag("-t,--tty", c->tty, "Give it a terminal");
    exec->add_option("container", c->target, "Name or id")->required();
    exec->add_option("command", c->command, "The command (after --)")->required();
    auto* logs = app.add_subcommand("logs", "Print a detached container's output");
    logs->add_option("container", c->target, "Name or id")->required();
    auto* rm = app.add_subcommand("rm", "Remove exited containers (-f: stop running ones first)");
    rm->add_flag("-f,--force", c->force, "Stop it first when it runs");
    rm->add_option("container", c->names, "Name or id")->required();
    return {{ps, [c] { return print_ps(*c, ocibake::default_state_dir()); }},
            {stop, [c] { return stop_containers(*c, ocibake::default_state_dir()); }},
            {exec,
             [c] {
                 return ocibake::exec_in_container(ocibake::default_state_dir(), c->target,
                                                   c->command, c->tty);
             }},
            {logs, [c] { return print_logs(*c, ocibake::default_state_dir()); }},
            {rm, [c] { return remove_containers(*c, ocibake::default_state_dir()); }}};
}

} // namespace ocibake::cli

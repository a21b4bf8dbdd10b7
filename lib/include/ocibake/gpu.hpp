// ocibake: giving a container NVIDIA GPUs, as the NVIDIA Container Toolkit does.
//
// With a CDI spec for kind nvidia.com/gpu (in /etc/cdi or /var/run/cdi) its container
// edits are applied. Without one, the device nodes and the driver's user-space files are
// discovered: /dev/nvidia*, /dev/nvidia-uvm*, /dev/nvidia-caps/*, and the libraries and
// programs of the capabilities the image asks for (NVIDIA_DRIVER_CAPABILITIES), found
// through `ldconfig -p` and the driver's directories, bind-mounted read-only and made
// loadable (docs/runtime.md#gpus).
//
//     auto edits = ocibake::find_gpus({}, ocibake::GpuRequest::parse("all"), spec.env);
//     if (edits) ocibake::apply_gpu_edits(*edits, bundle, spec);
#pragma once

#include "ocibake/runtime.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake {

/// Which GPUs a container gets (`--gpus all|none|0,1`).
struct GpuRequest {
    enum class Kind { all, none, list };
    Kind kind = Kind::all;
    std::vector<std::string> ids; ///< for list: indices ("0") or CDI device names / UUIDs

    /// "all", "none", or a comma-separated list. Error(usage) otherwise.
    static GpuRequest parse(std::string_view text);
    std::string str() const;
};

/// Where GPUs and the driver are looked for. Every path is below `root`, so tests can
/// point it at a fake tree.
struct GpuHost {
    std::filesystem::path root = "/";
    /// In order of precedence: dynamic specs (/var/run/cdi) over static ones (/etc/cdi).
    std::vector<std::string> cdi_dirs{"/var/run/cdi", "/etc/cdi"};
    /// Searched for driver libraries after `ldconfig -p`'s list.
    std::vector<std::string> library_dirs{"/usr/local/nvidia/lib64",
                                          "/usr/local/nvidia/lib",
                                          "/usr/lib64/nvidia",
                                          "/usr/lib/x86_64-linux-gnu",
                                          "/usr/lib64",
                                          "/usr/lib"};
    std::vector<std::string> binary_dirs{"/usr/local/nvidia/bin", "/usr/bin", "/usr/sbin", "/bin",
                                         "/sbin"};
    /// `ldconfig -p`'s output (paths as the host sees them, below `root`). nullopt: run
    /// the host's `ldconfig -p` when root is "/", else use none.
    std::optional<std::string> ldconfig_listing;
};

/// What a container gets: CDI's "container edits", made by a spec or by discovery.
struct GpuEdits {
    std::string source;               ///< "CDI spec /etc/cdi/nvidia.json" or "discovery"
    std::vector<std::string> devices; ///< the GPUs given: indices or CDI device names
    std::vector<std::string> env;     ///< KEY=VALUE
    std::vector<DeviceNode> device_nodes;
    std::vector<Mount> mounts; ///< driver files, read-only
    std::vector<Hook> hooks;
    std::vector<std::uint32_t> additional_gids;
    /// Container directories the loader must search (discovery's libraries); made
    /// loadable by apply_gpu_edits().
    std::vector<std::string> library_dirs;
    /// What discovery looked for and did not find (a driver may not ship every library).
    std::vector<std::string> missing;

    /// "GPU 0 (discovery: 6 driver files)", for reports.
    std::string summary() const;
};

/// The GPUs and driver files for a container with environment `env` (the image's plus
/// overrides: NVIDIA_VISIBLE_DEVICES and NVIDIA_DRIVER_CAPABILITIES are read there).
///
/// nullopt when the container gets no GPU: the request is none, NVIDIA_VISIBLE_DEVICES
/// is "void" or empty (or "none" with no explicit request), or the host has none (no
/// CDI spec of kind nvidia.com/gpu, no /dev/nvidiaN). A requested GPU the host lacks is
/// Error(usage); a CDI spec that names missing files is stale: Error(runtime). An
/// explicit request (a list) wins over NVIDIA_VISIBLE_DEVICES, as `docker --gpus` does.
std::optional<GpuEdits> find_gpus(const GpuHost& host, const GpuRequest& request,
                                  const std::vector<std::string>& env);

/// Why find_gpus() gave nothing: "--gpus none", "none found on this host (...)", ...
std::string no_gpu_reason(const GpuHost& host, const GpuRequest& request,
                          const std::vector<std::string>& env);

/// Applies `edits` to `spec`. For discovered libraries it also writes
/// /etc/ld.so.conf.d/00-ocibake-nvidia.conf into the bundle's rootfs and adds a
/// createContainer hook that runs the image's own ldconfig in the rootfs (after the
/// mounts, before the process starts, while the root is still writable and as root,
/// whatever the image's user); an image without ldconfig gets LD_LIBRARY_PATH instead.
void apply_gpu_edits(const GpuEdits& edits, const Bundle& bundle, ContainerSpec& spec);

} // namespace ocibake

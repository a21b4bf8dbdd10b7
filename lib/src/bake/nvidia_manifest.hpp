// Internal: NVIDIA's redistrib_<version>.json manifests ([[layer.nvidia]], docs/recipe.md).
//
// NVIDIA lists each release of CUDA, cuDNN and its other libraries as a JSON object:
// "release_date", "release_label", "release_product", then one object per component
// ("cuda_cudart", "libcublas", "cudnn"...) with "name", "license", "version" and, per
// platform ("linux-x86_64", "linux-sbsa", "linux-aarch64"...), the archive:
// {"relative_path", "sha256", "md5", "size"} (size as a string of digits). Components
// built for several CUDA majors (cuDNN, cuTENSOR) list "cuda_variant": ["11", "12"] and
// one archive per variant under the platform: {"cuda12": {"relative_path", ...}}.
// relative_path is relative to the folder of the manifest.
#pragma once

#include "ocibake/digest.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ocibake::detail {

struct RedistArchive {
    std::string relative_path;
    Digest sha256;
    std::uint64_t size = 0;
};

struct RedistComponent {
    std::string version;
    /// platform -> its archive (components without CUDA variants)
    std::map<std::string, RedistArchive> archives;
    /// platform -> variant ("cuda12") -> its archive
    std::map<std::string, std::map<std::string, RedistArchive>> variants;
};

struct RedistManifest {
    std::string release_label;
    std::string release_product;
    std::map<std::string, RedistComponent> components;
};

/// Parses a manifest. Error(input) naming `url` and the JSON path of the first value that
/// is not of the form above; a relative_path that is absolute, holds "..", a scheme, a
/// query or white space is refused.
RedistManifest parse_redistrib(std::string_view text, const std::string& url);

/// The archive of `component` for `platform` (and `variant`, when the component has
/// variants). Error(input) naming the manifest, and what it offers instead.
const RedistArchive& select_redist(const RedistManifest& manifest, const std::string& url,
                                   const std::string& component, const std::string& platform,
                                   const std::string& variant);

/// The archive's URL: relative_path below the folder of `manifest_url`.
std::string redist_url(const std::string& manifest_url, const std::string& relative_path);

} // namespace ocibake::detail

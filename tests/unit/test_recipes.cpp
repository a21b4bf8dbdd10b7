// Tests of the recipes and fragments the repository ships (recipes/*.toml, layers/*.toml):
// each one loads with load_recipe(), and the flagship (recipes/pytorch-cuda.toml), which
// cannot be locked or built without its registries, has the shape docs/flagship.md tells.

#include "ocibake/recipe.hpp"

#include "support/support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace fs = std::filesystem;
using ocibake::LayerSpec;
using ocibake::Recipe;
using ocibake::RecipeError;
using ocibake::TestSpec;
using namespace ocibake::test;

namespace {

using Strings = std::vector<std::string>;

/// The .toml files of a folder of the source tree, sorted.
std::vector<fs::path> tomls_in(const std::string& folder) {
    std::vector<fs::path> out;
    for (const fs::directory_entry& e : fs::directory_iterator(source_dir() / folder)) {
        if (e.is_regular_file() && e.path().extension() == ".toml") {
            out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::optional<std::string> env_of(const Recipe& r, const std::string& name) {
    for (const auto& [key, value] : r.config.env) {
        if (key == name) {
            return value;
        }
    }
    return std::nullopt;
}

const LayerSpec* layer_named(const Recipe& r, const std::string& name) {
    for (const LayerSpec& l : r.layers) {
        if (l.name == name) {
            return &l;
        }
    }
    return nullptr;
}

const TestSpec* test_named(const Recipe& r, const std::string& name) {
    for (const TestSpec& t : r.tests) {
        if (t.name == name) {
            return &t;
        }
    }
    return nullptr;
}

fs::path in_tree(const std::string& rel) {
    return (source_dir() / rel).lexically_normal();
}

Recipe flagship() {
    return ocibake::load_recipe(source_dir() / "recipes" / "pytorch-cuda.toml");
}

} // namespace

TEST_CASE("every recipe and fragment in the tree loads", "[recipes]") {
    std::vector<fs::path> files = tomls_in("recipes");
    std::vector<fs::path> layers = tomls_in("layers");
    files.insert(files.end(), layers.begin(), layers.end());
    REQUIRE(files.size() >= 2);
    ScratchDir dir("recipes");
    for (const fs::path& file : files) {
        INFO(file.string());
        std::string error;
        try {
            ocibake::load_recipe(file);
        } catch (const RecipeError& e) {
            error = e.what();
            // A fragment with packages may leave the apt source to the base fragment the
            // recipe includes before it (layers/python.toml): it loads under one.
            if (e.summary().find("but the recipe has no [[apt.source]]") != std::string::npos) {
                error.clear();
                std::string wrapper = "include = ['" + file.string() + "']\n";
                wrapper += "[[apt.source]]\nurl = \"http://apt.invalid/repo\"\n";
                wrapper += "suites = [\"/\"]\ntrusted = true\n";
                try {
                    ocibake::load_recipe(write_file(dir / "wrapper.toml", wrapper));
                } catch (const std::exception& e2) {
                    error = e2.what();
                }
            }
        } catch (const std::exception& e) {
            error = e.what();
        }
        CHECK(error == "");
    }
}

TEST_CASE("the flagship's name, base and layers", "[recipes]") {
    Recipe r = flagship();
    CHECK(r.name == "pytorch-cuda");
    CHECK(r.tag == "2.7.1-cuda12.8-cudnn9-runtime");
    CHECK(r.platform.os == "linux");
    CHECK(r.platform.architecture == "amd64");
    CHECK(r.base.ref == "docker.io/library/ubuntu:22.04");
    CHECK_FALSE(r.base.scratch());

    Strings names;
    for (const LayerSpec& l : r.layers) {
        names.push_back(l.name);
    }
    const Strings expected = {"ubuntu-base", "cuda-runtime", "cudnn",   "python", "pytorch",
                              "scientific",  "jupyter",      "openssh", "start",  "workspace"};
    CHECK(names == expected);

    // Every fragment was read once, cuda-runtime.toml too (cudnn.toml includes it again).
    std::set<fs::path> read(r.sources.begin(), r.sources.end());
    CHECK(read.size() == r.sources.size());
    CHECK(read.count(in_tree("layers/cuda-runtime.toml")) == 1);
    CHECK(r.sources.size() == 11);
}

TEST_CASE("the flagship's apt sources and CUDA packages", "[recipes]") {
    Recipe r = flagship();
    REQUIRE(r.apt_sources.size() == 2);

    const ocibake::apt::SourceSpec& ubuntu = r.apt_sources[0];
    CHECK(ubuntu.name == "ubuntu");
    CHECK(ubuntu.url == "http://archive.ubuntu.com/ubuntu");
    CHECK(ubuntu.suites == Strings{"jammy", "jammy-updates", "jammy-security"});
    CHECK(ubuntu.components == Strings{"main", "universe"});
    CHECK(ubuntu.keyring == fs::path("/usr/share/keyrings/ubuntu-archive-keyring.gpg"));
    CHECK(ubuntu.priority == 500);
    CHECK_FALSE(ubuntu.trusted);

    const ocibake::apt::SourceSpec& cuda = r.apt_sources[1];
    CHECK(cuda.name == "cuda");
    CHECK(cuda.url == "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2204/x86_64");
    CHECK(cuda.suites == Strings{"/"});
    CHECK(cuda.components.empty());
    CHECK(cuda.keyring == in_tree("layers/keys/cuda-archive-keyring.gpg"));
    CHECK(cuda.priority == 600);
    CHECK_FALSE(cuda.trusted);

    const LayerSpec* runtime = layer_named(r, "cuda-runtime");
    REQUIRE(runtime != nullptr);
    Strings packages;
    for (const auto& p : runtime->packages) {
        packages.push_back(p.str());
    }
    std::sort(packages.begin(), packages.end());
    CHECK(packages == Strings{"cuda-compat-12-8", "cuda-cudart-12-8", "libcublas-12-8",
                              "libnccl2=2.26.2-1+cuda12.8"});
    REQUIRE(runtime->alternatives.size() == 2);
    CHECK(runtime->alternatives[0].name == "cuda");
    CHECK(runtime->alternatives[0].link == "/usr/local/cuda");
    CHECK(runtime->alternatives[0].path == "/usr/local/cuda-12.8");
    REQUIRE(runtime->files.size() == 1);
    CHECK(runtime->files[0].path == "/etc/ld.so.conf.d/nvidia.conf");
    CHECK(runtime->files[0].content ==
          std::optional<std::string>("/usr/local/nvidia/lib\n/usr/local/nvidia/lib64\n"));

    const LayerSpec* cudnn = layer_named(r, "cudnn");
    REQUIRE(cudnn != nullptr);
    REQUIRE(cudnn->packages.size() == 1);
    CHECK(cudnn->packages[0].str() == "libcudnn9-cuda-12");
}

TEST_CASE("the flagship's Python layers share one venv", "[recipes]") {
    Recipe r = flagship();
    const Strings python_layers = {"pytorch", "scientific", "jupyter"};
    for (const std::string& name : python_layers) {
        INFO(name);
        const LayerSpec* l = layer_named(r, name);
        REQUIRE(l != nullptr);
        REQUIRE(l->python.has_value());
        CHECK(l->python->venv == "/opt/venv");
        CHECK(l->python->requirements == in_tree("layers/" + name + "/requirements.txt"));
        // The lock script's input sits next to the (generated) lock.
        CHECK(fs::is_regular_file(in_tree("layers/" + name + "/requirements.in")));
        CHECK(l->packages.empty());
    }
    CHECK(layer_named(r, "pytorch")->python->index_url == "https://download.pytorch.org/whl/cu128");
    CHECK(layer_named(r, "scientific")->python->index_url == "");
    CHECK(layer_named(r, "jupyter")->python->index_url == "");
    CHECK(fs::is_regular_file(in_tree("scripts/lock-wheels.sh")));
}

TEST_CASE("the flagship's run configuration", "[recipes]") {
    Recipe r = flagship();
    CHECK(r.config.entrypoint == std::optional<Strings>(Strings{"/usr/bin/tini", "-g", "--",
                                                                "/usr/local/bin/ocibake-start"}));
    CHECK(r.config.cmd == std::optional<Strings>(Strings{}));
    CHECK(r.config.workdir == std::optional<std::string>("/workspace"));
    CHECK(r.config.exposed_ports == Strings{"22/tcp", "8888/tcp"});

    // PATH: the venv first (pytorch.toml's, written after cuda-runtime.toml's).
    CHECK(env_of(r, "PATH") == std::optional<std::string>(
                                   "/opt/venv/bin:/usr/local/nvidia/bin:/usr/local/cuda/bin:"
                                   "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
    // Nothing of CUDA on LD_LIBRARY_PATH, so the wheels' libraries are never shadowed.
    CHECK(env_of(r, "LD_LIBRARY_PATH") ==
          std::optional<std::string>("/usr/local/nvidia/lib:/usr/local/nvidia/lib64"));
    CHECK(env_of(r, "CUDA_VERSION") == std::optional<std::string>("12.8.1"));
    CHECK(env_of(r, "NVIDIA_VISIBLE_DEVICES") == std::optional<std::string>("all"));
    CHECK(env_of(r, "NVIDIA_DRIVER_CAPABILITIES") == std::optional<std::string>("compute,utility"));
    CHECK(env_of(r, "NVIDIA_REQUIRE_CUDA") == std::optional<std::string>("cuda>=12.8"));
    CHECK(env_of(r, "LANG") == std::optional<std::string>("C.UTF-8"));
}

TEST_CASE("the flagship's tests", "[recipes]") {
    Recipe r = flagship();
    const Strings gpu_tests = {"cuda-available", "bf16-matmul", "cudnn-conv", "nccl-all-reduce",
                               "nvidia-smi"};
    for (const std::string& name : gpu_tests) {
        INFO(name);
        const TestSpec* t = test_named(r, name);
        REQUIRE(t != nullptr);
        CHECK(t->gpu);
        CHECK(t->type == ocibake::TestType::command);
    }
    const TestSpec* nccl = test_named(r, "nccl-all-reduce");
    REQUIRE(nccl->shell.has_value());
    CHECK(nccl->shell->find("torchrun --standalone --nproc-per-node=1") != std::string::npos);

    // Without a GPU: the build of torch, the wheels' libraries, NumPy and Pandas; and the
    // fragments' own tests (CUDA, Jupyter, SSH, start-up, workspace).
    const Strings cpu_tests = {"torch-build",           "wheels-not-shadowed",
                               "numpy-pandas",          "one-venv",
                               "dpkg-database",         "cuda-libraries-in-ld-cache",
                               "cuda-symlink",          "cudnn-in-ld-cache",
                               "jupyter-with-token",    "jupyter-without-token",
                               "jupyter-runs-as-dev",   "sshd-config",
                               "no-host-keys-in-image", "plain-command",
                               "start-config",          "workspace-user"};
    for (const std::string& name : cpu_tests) {
        INFO(name);
        const TestSpec* t = test_named(r, name);
        REQUIRE(t != nullptr);
        CHECK_FALSE(t->gpu);
    }
    const TestSpec* with_token = test_named(r, "jupyter-with-token");
    CHECK(with_token->type == ocibake::TestType::service);
    CHECK(with_token->port == 8888);
    CHECK(with_token->http_status == 200);
    CHECK(test_named(r, "jupyter-without-token")->http_status == 403);

    const TestSpec* symlink = test_named(r, "cuda-symlink");
    CHECK(symlink->type == ocibake::TestType::file);
    CHECK(symlink->target == std::optional<std::string>("/etc/alternatives/cuda"));
}

TEST_CASE("the Debian flagship's GPU tests are the ones the GPU machine check runs", "[recipes]") {
    // recipes/debian-pytorch.toml and tests/gpu/debian-cuda.toml (the part of it carried to
    // the GPU machine, docs/gpu-harness.md) include the same test fragment: what passed
    // there is what the recipe ships.
    const Recipe flagship = ocibake::load_recipe(in_tree("recipes/debian-pytorch.toml"));
    const Recipe carried = ocibake::load_recipe(in_tree("tests/gpu/debian-cuda.toml"));
    for (const std::string name : {"cublas-sgemm", "nvidia-smi"}) {
        INFO(name);
        const TestSpec* shipped = test_named(flagship, name);
        const TestSpec* checked = test_named(carried, name);
        REQUIRE(shipped != nullptr);
        REQUIRE(checked != nullptr);
        CHECK(shipped->gpu);
        CHECK(checked->gpu);
        CHECK(shipped->args == checked->args);
        CHECK(shipped->where.file == checked->where.file); // one fragment, not a copy
        REQUIRE(shipped->stdout_match.size() == checked->stdout_match.size());
        for (std::size_t i = 0; i < shipped->stdout_match.size(); ++i) {
            CHECK(shipped->stdout_match[i].regex == checked->stdout_match[i].regex);
        }
    }
    // No shell in the carried image: the cuBLAS test needs only python3.
    const TestSpec* sgemm = test_named(carried, "cublas-sgemm");
    CHECK_FALSE(sgemm->shell.has_value());
    REQUIRE(sgemm->args.has_value());
    REQUIRE(sgemm->args->size() == 3);
    CHECK(sgemm->args->at(0) == "python3");
    CHECK(sgemm->args->at(2).find("cublasSgemm_v2") != std::string::npos);
    // And the carried image holds what those tests load.
    auto packages_of = [&](const std::string& layer) {
        const LayerSpec* l = layer_named(carried, layer);
        Strings names;
        if (l != nullptr) {
            for (const auto& p : l->packages) {
                names.push_back(p.str());
            }
        }
        return names;
    };
    CHECK(packages_of("cuda") == Strings{"libcudart11.0", "libcublas11", "libc-bin"});
    CHECK(packages_of("python") == Strings{"python3", "python3-numpy"});
}

TEST_CASE("debian-torch-cuda: Debian 13 torch-cuda with cuDNN from NVIDIA's pinned archive "
          "satisfying nvidia-cudnn",
          "[recipes]") {
    const Recipe r = ocibake::load_recipe(source_dir() / "recipes/debian-torch-cuda.toml");
    CHECK(r.name == "debian-torch-cuda");
    const LayerSpec* torch = layer_named(r, "torch-cuda");
    REQUIRE(torch != nullptr);
    Strings names;
    for (const auto& p : torch->packages) {
        names.push_back(p.name);
    }
    CHECK(names == Strings{"python3-torch-cuda", "libnccl2", "python3-numpy", "python3-pandas"});
    Strings suites;
    for (const auto& s : r.apt_sources) {
        for (const auto& suite : s.suites) {
            suites.push_back(suite);
        }
    }
    CHECK(suites == Strings{"trixie", "trixie-updates", "trixie-security"});
    const LayerSpec* cudnn = layer_named(r, "cudnn");
    REQUIRE(cudnn != nullptr);
    REQUIRE(cudnn->nvidia.size() == 1);
    const ocibake::NvidiaItem& n = cudnn->nvidia.front();
    CHECK(n.manifest ==
          "https://developer.download.nvidia.com/compute/cudnn/redist/redistrib_9.0.0.json");
    CHECK(n.components == Strings{"cudnn"});
    CHECK(n.cuda_variant == "cuda12");
    CHECK(n.layout == "debian");
    CHECK(n.satisfies == "nvidia-cudnn");
    // Every GPU test is marked so: skipped, never passed, without a GPU.
    for (const char* name :
         {"torch-cuda-available", "bf16-matmul", "cudnn-conv", "nccl-all-reduce"}) {
        auto t = std::find_if(r.tests.begin(), r.tests.end(),
                              [&](const auto& test) { return test.name == name; });
        REQUIRE(t != r.tests.end());
        CHECK(t->gpu);
    }
}

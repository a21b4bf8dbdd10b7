// The recipe loader: TOML, the schema, and includes (resolved in a scratch tree that
// holds a copy of the repository's layers/ fragments, so `include = ["../layers/x.toml"]`
// of the seeds merges real fragments).
#include "ocibake/recipe.hpp"
#include "support.hpp"

#include <cstdint>
#include <filesystem>

namespace fs = std::filesystem;

namespace {
fs::path recipe_file;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ocibake::fuzz::init();
    fs::path tree = ocibake::fuzz::fresh_dir("recipe-tree");
    fs::create_directories(tree / "recipes");
    std::error_code ec;
    fs::copy(fs::path(OCIBAKE_SOURCE_DIR) / "layers", tree / "layers", fs::copy_options::recursive,
             ec);
    recipe_file = tree / "recipes" / "fuzz.toml";
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        ocibake::Recipe recipe = ocibake::parse_recipe(text, recipe_file);
        (void)recipe;
    } catch (const ocibake::Error& e) {
        ocibake::fuzz::expected(e);
    }
    return 0;
}

// Embedding ocibake: assemble an image from your own layer, and build a recipe.
// Built by tests/consumer/run.cmake against the installed package; shown in
// docs/embedding.md.
#include <ocibake/ocibake.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

namespace fs = std::filesystem;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: embed WORKDIR\n";
        return 2;
    }
    fs::path work = argv[1];
    try {
        // 1. An image from a layer this program makes itself.
        ocibake::Store store(work / "cache");
        ocibake::LayerBuilder layer;
        layer.add_content("/etc/motd", "made by an embedding program\n");
        layer.add_directory("/data", 0755, 1000, 1000);

        ocibake::Image image;
        image.config.config.cmd = std::vector<std::string>{"/bin/sh"};
        image.add_layer(ocibake::build_layer(store, layer.finish(), {}), "embed: motd and /data");
        ocibake::BuiltImage built = ocibake::assemble_image(store, image);
        ocibake::write_image(store, built,
                             ocibake::OutputTarget::parse("oci:" + (work / "own").string()), "own",
                             "latest");
        std::cout << "own image " << built.manifest_descriptor.digest.str() << "\n";

        // 2. A recipe, built the way the CLI builds it.
        std::ofstream(work / "recipe.toml") << "name = \"embedded\"\n"
                                               "[[layer]]\n"
                                               "[[layer.files]]\n"
                                               "path = \"/hello.txt\"\n"
                                               "content = \"hello\\n\"\n";
        ocibake::BuildOptions options;
        options.cache_dir = work / "cache";
        options.output = ocibake::OutputTarget::parse("oci:" + (work / "recipe-out").string());
        ocibake::BuildResult result = ocibake::build_recipe_file(work / "recipe.toml", options);
        std::cout << "recipe image " << result.image.manifest_descriptor.digest.str() << " ("
                  << result.layers.size() << " layer)\n";

        // 3. Read it back.
        ocibake::ImageInfo info = ocibake::inspect_image("oci:" + (work / "recipe-out").string());
        return info.manifest_descriptor.digest == result.image.manifest_descriptor.digest ? 0 : 1;
    } catch (const ocibake::Error& e) {
        std::cerr << "embed: " << e.what() << "\n";
        return ocibake::exit_code_for(e.kind());
    }
}

// SPDX-License-Identifier: Apache-2.0
// Replays a fuzz corpus (and any crash files) through a fuzz target, as a test.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
// A target may say whether its corpus reached what it is there to reach (the
// dispatcher's: a commit and a syncUser); a corpus that no longer does fails.
extern "C" [[gnu::weak]] bool hsmsh_fuzz_corpus_reached();

int main(int argc, char** argv) {
    std::size_t count = 0;
    for (int i = 1; i < argc; ++i) {
        for (const auto& entry : std::filesystem::directory_iterator(argv[i])) {
            if (!entry.is_regular_file()) continue;
            std::ifstream in(entry.path(), std::ios::binary);
            std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
            LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
            ++count;
        }
    }
    std::cout << "replayed " << count << " inputs\n";
    if (hsmsh_fuzz_corpus_reached && !hsmsh_fuzz_corpus_reached()) {
        std::cout << "the corpus no longer reaches what its target checks\n";
        return 1;
    }
    return count > 0 ? 0 : 1;
}

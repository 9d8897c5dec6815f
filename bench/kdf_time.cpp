// SPDX-License-Identifier: Apache-2.0
// The time of one PBKDF2-HMAC-SHA256 derivation as the node runs it: the
// unit of the password-bound throughput's physical bound.
//
//   kdf_time ITERATIONS REPEATS    (prints the median, in seconds)
#include "hsmsh/kdf.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: kdf_time ITERATIONS REPEATS\n";
        return 2;
    }
    auto iterations = static_cast<std::uint32_t>(std::strtoul(argv[1], nullptr, 10));
    int repeats = std::max(1, std::atoi(argv[2]));
    std::vector<double> times;
    for (int i = 0; i < repeats; ++i) {
        auto start = std::chrono::steady_clock::now();
        auto h = hsm::hash_password("benchmark-password", iterations);
        times.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        if (h.key.empty()) return 1;
    }
    std::sort(times.begin(), times.end());
    std::cout << times[times.size() / 2] << '\n';
    return 0;
}

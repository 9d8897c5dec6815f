// SPDX-License-Identifier: Apache-2.0
// One-line event logging to stderr.
#include "hsmsh/log.hpp"

#include <cstdio>
#include <cstdlib>

#include <sys/stat.h>
#include <unistd.h>

namespace hsm {

std::string escape_control(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        auto b = static_cast<unsigned char>(c);
        if (b < 0x20 || b >= 0x7f || c == '\\')
            out += fmt::format("\\x{:02x}", b);
        else
            out += c;
    }
    return out;
}

std::string escape_terminal(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        auto b = static_cast<unsigned char>(c);
        if (b < 0x20 || b == 0x7f)
            out += fmt::format("\\x{:02x}", b);
        else
            out += c;
    }
    return out;
}

bool stderr_is_journal() noexcept {
    const char* stream = std::getenv("JOURNAL_STREAM");
    if (!stream) return false;
    unsigned long long device = 0, inode = 0;
    if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) return false;
    struct stat st {};
    return ::fstat(STDERR_FILENO, &st) == 0 && st.st_dev == device && st.st_ino == inode;
}

void log_line(std::string_view line, severity level) noexcept {
    static const bool journal = stderr_is_journal();
    try {
        std::string out = journal ? fmt::format("<{}>{}\n", static_cast<int>(level), line)
                                  : fmt::format("hsmd[{}]: {}\n", ::getpid(), line);
        std::string_view rest = out;
        while (!rest.empty()) {
            ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
            if (n <= 0) return;
            rest.remove_prefix(static_cast<std::size_t>(n));
        }
    } catch (...) {
        // Logging must never take the node down.
    }
}

} // namespace hsm

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

namespace {

// The length of the well-formed UTF-8 sequence at the start of `text` whose
// code point is printable (not a C1 control, U+0080-U+009F), or 0.
std::size_t printable_utf8(std::string_view text) noexcept {
    auto b = static_cast<unsigned char>(text[0]);
    std::size_t n = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 0;
    if (n == 0 || text.size() < n) return 0;
    std::uint32_t cp = b & (0x7f >> n);
    for (std::size_t i = 1; i < n; ++i) {
        auto c = static_cast<unsigned char>(text[i]);
        if ((c & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (c & 0x3f);
    }
    bool shortest = (n == 2 && cp >= 0x80) || (n == 3 && cp >= 0x800) || (n == 4 && cp >= 0x10000);
    bool valid = shortest && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
    return valid && (cp < 0x80 || cp > 0x9f) ? n : 0;
}

// The length of the printable character at the start of `text`, or 0: C0
// controls and DEL; above ASCII, anything but printable UTF-8: C1 controls
// (raw or encoded) and stray bytes, which some terminals read as CSI and the like.
std::size_t printable_prefix(std::string_view text) noexcept {
    auto b = static_cast<unsigned char>(text[0]);
    return b < 0x20 || b == 0x7f ? 0 : b < 0x80 ? 1 : printable_utf8(text);
}

} // namespace

bool printable_text(std::string_view text) noexcept {
    while (!text.empty()) {
        auto n = printable_prefix(text);
        if (n == 0) return false;
        text.remove_prefix(n);
    }
    return true;
}

std::string escape_terminal(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    while (!text.empty()) {
        auto b = static_cast<unsigned char>(text[0]);
        std::size_t n = printable_prefix(text);
        if (n == 0) {
            out += fmt::format("\\x{:02x}", b);
            n = 1;
        } else {
            out += text.substr(0, n);
        }
        text.remove_prefix(n);
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

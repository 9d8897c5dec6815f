// SPDX-License-Identifier: Apache-2.0
// Lists laid out for a terminal.
#include "columns.hpp"

#include <algorithm>
#include <sstream>

#include <sys/ioctl.h>
#include <unistd.h>

namespace hsm {
namespace {

constexpr std::size_t gap = 2;

std::size_t longest(const std::vector<std::string>& words) {
    std::size_t most = 0;
    for (const auto& w : words)
        most = std::max(most, w.size());
    return most;
}

} // namespace

std::string in_columns(const std::vector<std::string>& words, std::size_t width) {
    if (words.empty()) return {};
    auto column = longest(words) + gap;
    auto columns = std::max<std::size_t>(1, (width + gap) / column);
    auto rows = (words.size() + columns - 1) / columns;
    std::string out;
    for (std::size_t r = 0; r < rows; ++r) {
        std::string line;
        for (auto k = r; k < words.size(); k += rows)
            line +=
                words[k] + std::string(k + rows < words.size() ? column - words[k].size() : 0, ' ');
        out += line + '\n';
    }
    return out;
}

std::string term_and_text(std::string_view term, std::string_view text, std::size_t indent,
                          std::size_t width) {
    std::string out(term);
    out.resize(std::max(indent, term.size() + 1), ' ');
    auto room = width > indent ? width - indent : std::size_t{1};
    std::istringstream words{std::string(text)};
    std::size_t used = 0;
    for (std::string w; words >> w;) {
        if (used > 0 && used + 1 + w.size() > room) {
            out += '\n' + std::string(indent, ' ');
            used = 0;
        } else if (used > 0) {
            out += ' ';
            ++used;
        }
        out += w;
        used += w.size();
    }
    return out + '\n';
}

std::size_t terminal_width() noexcept {
    winsize ws{};
    if (::isatty(STDOUT_FILENO) && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

} // namespace hsm

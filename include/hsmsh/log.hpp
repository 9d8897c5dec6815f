// SPDX-License-Identifier: Apache-2.0
// One-line event logging to stderr with control characters escaped.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace hsm {

/// `text` with control characters, backslashes and bytes >= 0x7f written as \xNN,
/// so that a field can never start a new log line.
std::string escape_control(std::string_view text);

/// For a terminal: control bytes (NUL, ESC, DEL, ...) as \xNN; everything
/// else, UTF-8 and backslashes included, as it is.
std::string escape_terminal(std::string_view text);

/// Writes "hsmd[pid]: <line>\n" to stderr in one write. The caller escapes fields.
void log_line(std::string_view line) noexcept;

template <typename... Args> void log_event(fmt::format_string<Args...> f, Args&&... args) {
    log_line(fmt::format(f, std::forward<Args>(args)...));
}

} // namespace hsm

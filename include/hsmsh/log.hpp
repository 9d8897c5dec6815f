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

/// For a terminal: control bytes (NUL, ESC, DEL, ...), C1 controls (raw, or
/// UTF-8 encoded as U+0080-U+009F) and bytes that are not well-formed UTF-8
/// as \xNN; everything else, printable UTF-8 and backslashes included, as it is.
std::string escape_terminal(std::string_view text);

/// Whether escape_terminal would leave `text` as it is: well-formed UTF-8
/// with no control character, raw or encoded, and no DEL.
bool printable_text(std::string_view text) noexcept;

/// How bad an event is: syslog's levels, as journald reads them.
enum class severity { error = 3, warning = 4, info = 6 };

/// Writes "hsmd[pid]: <line>\n" to stderr in one write. When stderr is the
/// journal (systemd's JOURNAL_STREAM names it), the line starts with the
/// priority ("<3>", "<4>", "<6>") and without the name, which the journal
/// records itself. The caller escapes fields.
void log_line(std::string_view line, severity level = severity::info) noexcept;

/// Whether standard error is the journal: JOURNAL_STREAM's "device:inode"
/// is standard error's own (sd_journal_stream_fd(3)).
bool stderr_is_journal() noexcept;

template <typename... Args> void log_event(fmt::format_string<Args...> f, Args&&... args) {
    log_line(fmt::format(f, std::forward<Args>(args)...), severity::info);
}

/// Something went wrong that an operator should look at.
template <typename... Args> void log_error(fmt::format_string<Args...> f, Args&&... args) {
    log_line(fmt::format(f, std::forward<Args>(args)...), severity::error);
}

/// Something was refused or cut off: the node is fine, a peer or client is not.
template <typename... Args> void log_warning(fmt::format_string<Args...> f, Args&&... args) {
    log_line(fmt::format(f, std::forward<Args>(args)...), severity::warning);
}

} // namespace hsm

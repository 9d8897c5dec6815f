// SPDX-License-Identifier: Apache-2.0
// The module's log.
#include "diagnostics.hpp"

#include "hsmsh/log.hpp"

#include <atomic>
#include <string>

#include <fmt/format.h>
#include <syslog.h>
#include <unistd.h>

namespace hsm::p11 {
namespace {

// Constants and atomics only: nothing here has a destructor.
std::atomic<log_level> current_level{log_level::warning};
std::atomic<bool> to_syslog{false};

int priority(log_level level) {
    switch (level) {
    case log_level::error:
        return LOG_ERR;
    case log_level::warning:
        return LOG_WARNING;
    case log_level::info:
        return LOG_INFO;
    default:
        return LOG_DEBUG;
    }
}

} // namespace

void set_logging(log_level level, bool syslog) noexcept {
    current_level = level;
    to_syslog = syslog;
}

void log(log_level level, std::string_view line) noexcept {
    if (level == log_level::off || level > current_level.load()) return;
    try {
        auto text = escape_control(line);
        if (to_syslog) {
            ::syslog(LOG_USER | priority(level), "hsmsh-pkcs11: %s", text.c_str());
            return;
        }
        auto out = fmt::format("hsmsh-pkcs11[{}]: {}\n", getpid(), text);
        // One write: lines of several threads never mix.
        static_cast<void>(::write(STDERR_FILENO, out.data(), out.size()));
    } catch (...) {
        // A log line is never worth failing a call for.
    }
}

} // namespace hsm::p11

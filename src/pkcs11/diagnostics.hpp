// SPDX-License-Identifier: Apache-2.0
// What the module says of itself, and its own settings: the "pkcs11" object
// of the configuration file (log level and destination, timeouts).
#pragma once

#include "hsmsh/config.hpp"
#include "hsmsh/duration.hpp"

#include <chrono>
#include <string_view>

namespace hsm::p11 {

enum class log_level { off, error, warning, info, debug };

/// {"pkcs11": {"log_level": "off|error|warning|info|debug",
///             "log": "stderr|syslog", "connect_timeout_s": 1..300,
///             "request_timeout_s": 1..3600}}; each may be left out.
struct module_settings {
    log_level level = log_level::warning;
    bool syslog = false; // else standard error
    duration connect_timeout = std::chrono::seconds(5);
    duration request_timeout = std::chrono::seconds(10);
};

/// The settings of the configuration file at `path`; the defaults for what
/// it lacks (a file without a "pkcs11" object, or none). Throws config_error
/// naming the field whose value is wrong.
module_settings read_settings(const fs::path& path);

/// Where and how much the module logs from now on (C_Initialize sets it).
void set_logging(log_level level, bool syslog) noexcept;

/// One line at `level`, to standard error ("hsmsh-pkcs11[pid]: ...") or
/// syslog (LOG_USER, the host's ident left alone), control characters
/// escaped. Callers never pass a PIN, a key or data.
void log(log_level level, std::string_view line) noexcept;

} // namespace hsm::p11

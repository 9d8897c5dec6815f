// SPDX-License-Identifier: Apache-2.0
// The module's own settings: the "pkcs11" object of the configuration file
// (log level and destination, timeouts).
#pragma once

#include "diagnostics.hpp"
#include "hsmsh/client/config.hpp"
#include "hsmsh/duration.hpp"

#include <chrono>

namespace hsm::p11 {

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

} // namespace hsm::p11

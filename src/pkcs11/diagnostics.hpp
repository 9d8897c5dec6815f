// SPDX-License-Identifier: Apache-2.0
// What the module says of itself: its log, at a level and to a destination
// the settings (module_config.hpp) choose.
#pragma once

#include <string_view>

namespace hsm::p11 {

enum class log_level { off, error, warning, info, debug };

/// Where and how much the module logs from now on (C_Initialize sets it).
void set_logging(log_level level, bool syslog) noexcept;

/// One line at `level`, to standard error ("hsmsh-pkcs11[pid]: ...") or
/// syslog (LOG_USER, the host's ident left alone), control characters
/// escaped. Callers never pass a PIN, a key or data.
void log(log_level level, std::string_view line) noexcept;

} // namespace hsm::p11

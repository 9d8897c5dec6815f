// SPDX-License-Identifier: Apache-2.0
// The one duration type of deadlines and timeouts, and seconds as options give them.
#pragma once

#include <chrono>
#include <cstdint>

namespace hsm {

using duration = std::chrono::steady_clock::duration;

/// Seconds as options give them (0.5, 10) as a duration, and back.
inline duration from_seconds(double s) {
    return std::chrono::duration_cast<duration>(std::chrono::duration<double>(s));
}
inline double to_seconds(duration d) {
    return std::chrono::duration<double>(d).count();
}

/// Milliseconds since the Unix epoch: deadlines that must survive a restart.
inline std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

} // namespace hsm

// SPDX-License-Identifier: Apache-2.0
// The node's process signals, read by its event loop from a signalfd.
#pragma once

#include "hsmsh/asio.hpp"

#include <functional>
#include <initializer_list>

#include <signal.h>
#include <sys/signalfd.h>

namespace hsm {

/// Blocks `signals` in the calling thread, and so in every thread it starts
/// afterwards: call it before any starts. Returns the set, for a
/// signal_stream. They stay blocked: a SIGTERM arriving while the node stops
/// must not kill it. Throws std::system_error.
sigset_t block_signals(std::initializer_list<int> signals);

/// Takes blocked signals synchronously: the event loop reads them from a
/// signalfd. No asynchronous handler runs, so none can race the program or
/// be lost: ThreadSanitizer defers an asynchronous handler until its thread
/// passes an interceptor, and twice in CI a SIGTERM to an idle node under it
/// never ran (node_integration's SIGTERM test timed out after 30 s with no
/// "stopping" line). A signal sent before the loop runs waits in the kernel.
class signal_stream {
public:
    /// `signals` must be blocked in every thread (block_signals). Throws
    /// std::system_error if the signalfd cannot be made.
    signal_stream(asio::io_context& io, const sigset_t& signals);

    /// Calls `handler(signo)` on the loop for each signal, until cancel().
    void start(std::function<void(int)> handler);
    /// Stops reading: the handler is not called again. Idempotent.
    void cancel() noexcept;

private:
    void read();

    asio::posix::stream_descriptor fd_;
    signalfd_siginfo info_{};
    std::function<void(int)> handler_;
};

} // namespace hsm

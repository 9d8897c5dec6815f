// SPDX-License-Identifier: Apache-2.0
// The node's process signals, read by its event loop from a signalfd.
#include "signal_stream.hpp"

#include <cerrno>
#include <system_error>

#include <pthread.h>

namespace hsm {
namespace {

int open_signalfd(const sigset_t& signals) {
    int fd = ::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "signalfd");
    return fd;
}

} // namespace

sigset_t block_signals(std::initializer_list<int> signals) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : signals)
        sigaddset(&set, s);
    if (int rc = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0)
        throw std::system_error(rc, std::generic_category(), "pthread_sigmask");
    return set;
}

signal_stream::signal_stream(asio::io_context& io, const sigset_t& signals)
    : fd_(io, open_signalfd(signals)) {}

void signal_stream::start(std::function<void(int)> handler) {
    handler_ = std::move(handler);
    read();
}

void signal_stream::cancel() noexcept {
    // Closing cancels a pending read, and read() stops once the fd is closed.
    boost::system::error_code ignored;
    fd_.close(ignored);
}

void signal_stream::read() {
    // A signalfd gives whole signalfd_siginfo records, one per read here.
    fd_.async_read_some(asio::buffer(&info_, sizeof info_),
                        [this](const boost::system::error_code& ec, std::size_t n) {
                            if (ec) return;
                            if (n == sizeof info_) handler_(static_cast<int>(info_.ssi_signo));
                            if (fd_.is_open()) read();
                        });
}

} // namespace hsm

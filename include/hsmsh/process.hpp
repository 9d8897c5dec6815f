// SPDX-License-Identifier: Apache-2.0
// Starting and stopping child processes (hsmd nodes for the demo and the tests).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <csignal>

#include <pthread.h>
#include <sys/types.h>

namespace hsm {

struct process_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// A child process whose stdout is a pipe to us; stderr goes to a file (or
/// is inherited when none is given). It runs in a process group of its own,
/// so a terminal's Ctrl-C does not reach it. The destructor sends SIGTERM
/// and reaps.
class child_process {
public:
    child_process(const std::vector<std::string>& argv, const std::filesystem::path& stderr_file);
    ~child_process();
    child_process(child_process&& other) noexcept;
    child_process& operator=(child_process&&) = delete;
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    /// One line of the child's stdout, within `timeout`; nullopt on EOF or timeout.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout);

    /// Sends `signo` (no-op once reaped).
    void signal(int signo) noexcept;

    /// Waits up to `timeout` for the child; its exit status, or nullopt if it
    /// still runs. A child killed by a signal gives 128 + signal.
    std::optional<int> wait(std::chrono::milliseconds timeout);

    /// SIGTERM, then SIGKILL after `grace`; returns the exit status.
    int stop(std::chrono::milliseconds grace = std::chrono::seconds(5)) noexcept;

    pid_t pid() const noexcept { return pid_; }

private:
    pid_t pid_ = -1;
    int stdout_fd_ = -1;
    std::string buffer_;
    std::optional<int> status_;
};

/// Runs a command to completion, returning its exit status and stdout.
struct command_result {
    int status = -1;
    std::string output;
};
command_result run_command(const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout = std::chrono::seconds(60));

/// No core file and no ptrace attach by other processes of the same user:
/// a process holding passwords or keys must not write them to disk when it
/// crashes. Call first thing in main.
void disable_core_dumps() noexcept;

/// Blocks every signal in this thread while it lives, so that a thread started
/// meanwhile inherits the mask (helper threads never take the terminal's
/// Ctrl-C from the thread that reads it).
class signals_blocked {
public:
    signals_blocked() {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &saved_);
    }
    ~signals_blocked() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
    signals_blocked(const signals_blocked&) = delete;
    signals_blocked& operator=(const signals_blocked&) = delete;

private:
    sigset_t saved_;
};

} // namespace hsm

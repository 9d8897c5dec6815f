// SPDX-License-Identifier: Apache-2.0
// Starting and stopping child processes with posix_spawn.
#include "hsmsh/process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

extern char** environ;

namespace hsm {
namespace {

using clock = std::chrono::steady_clock;

struct spawn_actions {
    posix_spawn_file_actions_t actions;
    spawn_actions() { posix_spawn_file_actions_init(&actions); }
    ~spawn_actions() { posix_spawn_file_actions_destroy(&actions); }
    spawn_actions(const spawn_actions&) = delete;
    spawn_actions& operator=(const spawn_actions&) = delete;
};

// The child leads a process group of its own: the terminal's Ctrl-C goes to
// the foreground group (the shell's), and must not stop the demo's nodes.
struct own_process_group {
    posix_spawnattr_t attr;
    own_process_group() {
        posix_spawnattr_init(&attr);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(&attr, 0);
    }
    ~own_process_group() { posix_spawnattr_destroy(&attr); }
    own_process_group(const own_process_group&) = delete;
    own_process_group& operator=(const own_process_group&) = delete;
};

int decode_status(int raw) {
    if (WIFEXITED(raw)) return WEXITSTATUS(raw);
    if (WIFSIGNALED(raw)) return 128 + WTERMSIG(raw);
    return -1;
}

} // namespace

child_process::child_process(const std::vector<std::string>& argv,
                             const std::filesystem::path& stderr_file) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw process_error("pipe failed");
    spawn_actions fa;
    posix_spawn_file_actions_adddup2(&fa.actions, pipe_fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (!stderr_file.empty())
        posix_spawn_file_actions_addopen(&fa.actions, STDERR_FILENO, stderr_file.c_str(),
                                         O_WRONLY | O_CREAT | O_APPEND, 0600);
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    own_process_group group;
    int rc = posix_spawn(&pid_, args[0], &fa.actions, &group.attr, args.data(), environ);
    ::close(pipe_fds[1]);
    if (rc != 0) {
        ::close(pipe_fds[0]);
        throw process_error(fmt::format("cannot start {}: {}", argv.at(0), std::strerror(rc)));
    }
    stdout_fd_ = pipe_fds[0];
}

child_process::child_process(child_process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), stdout_fd_(std::exchange(other.stdout_fd_, -1)),
      buffer_(std::move(other.buffer_)), status_(other.status_) {}

child_process::~child_process() {
    stop();
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

std::optional<std::string> child_process::read_line(std::chrono::milliseconds timeout) {
    auto deadline = clock::now() + timeout;
    for (;;) {
        auto nl = buffer_.find('\n');
        if (nl != std::string::npos) {
            std::string line = buffer_.substr(0, nl);
            buffer_.erase(0, nl + 1);
            return line;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        if (left.count() <= 0 || stdout_fd_ < 0) return std::nullopt;
        pollfd p{stdout_fd_, POLLIN, 0};
        int rc = ::poll(&p, 1, static_cast<int>(left.count()));
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return std::nullopt;
        char buf[4096];
        ssize_t n = ::read(stdout_fd_, buf, sizeof buf);
        if (n <= 0) return std::nullopt;
        buffer_.append(buf, static_cast<std::size_t>(n));
    }
}

void child_process::signal(int signo) noexcept {
    if (pid_ > 0 && !status_) ::kill(pid_, signo);
}

std::optional<int> child_process::wait(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return status_;
    auto deadline = clock::now() + timeout;
    while (!status_) {
        int raw = 0;
        pid_t r = ::waitpid(pid_, &raw, WNOHANG);
        if (r == pid_) {
            status_ = decode_status(raw);
            break;
        }
        if (r < 0 && errno != EINTR) {
            status_ = -1;
            break;
        }
        if (clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return status_;
}

int child_process::stop(std::chrono::milliseconds grace) noexcept {
    if (pid_ <= 0) return -1;
    try {
        signal(SIGCONT);
        signal(SIGTERM);
        if (auto s = wait(grace)) return *s;
        signal(SIGKILL);
        return wait(std::chrono::seconds(10)).value_or(-1);
    } catch (...) {
        return -1;
    }
}

command_result run_command(const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout) {
    child_process child(argv, {});
    command_result out;
    auto deadline = clock::now() + timeout;
    while (auto line = child.read_line(
               std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now())))
        out.output += *line + "\n";
    out.status = child.wait(std::chrono::seconds(5)).value_or(-1);
    if (out.status == -1) out.status = child.stop();
    return out;
}

void disable_core_dumps() noexcept {
    rlimit none{0, 0};
    ::setrlimit(RLIMIT_CORE, &none);
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

} // namespace hsm

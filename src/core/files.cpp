// SPDX-License-Identifier: Apache-2.0
// Bounded file reads and atomic file writes with POSIX calls.
#include "hsmsh/files.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace hsm {
namespace {

// Owns a file descriptor.
class fd_guard {
public:
    explicit fd_guard(int fd) noexcept : fd_(fd) {}
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    ~fd_guard() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    int fd_;
};

[[noreturn]] void fail(const std::filesystem::path& path, std::string_view what) {
    throw file_error(fmt::format("{}: {}: {}", path.string(), what, std::strerror(errno)));
}

void write_all(int fd, std::string_view data, const std::filesystem::path& path) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(path, "cannot write");
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

void fsync_directory(const std::filesystem::path& dir) {
    fd_guard fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0 || ::fsync(fd.get()) != 0) fail(dir, "cannot sync directory");
}

} // namespace

std::string read_file(const std::filesystem::path& path, std::size_t limit) {
    fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) fail(path, "cannot open");
    std::string out;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(path, "cannot read");
        if (n == 0) break;
        if (out.size() + static_cast<std::size_t>(n) > limit)
            throw file_error(fmt::format("{}: larger than {} bytes", path.string(), limit));
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

void write_file_atomic(const std::filesystem::path& path, std::string_view data, unsigned mode) {
    auto dir = path.parent_path();
    std::string tmpl = (dir / ("." + path.filename().string() + ".XXXXXX")).string();
    fd_guard fd(::mkstemp(tmpl.data()));
    if (fd.get() < 0) fail(tmpl, "cannot create temporary file");
    std::filesystem::path tmp = tmpl;
    try {
        if (::fchmod(fd.get(), mode) != 0) fail(tmp, "cannot set mode");
        write_all(fd.get(), data, tmp);
        if (::fsync(fd.get()) != 0) fail(tmp, "cannot sync");
        if (::close(fd.release()) != 0) fail(tmp, "cannot close");
        if (::rename(tmp.c_str(), path.c_str()) != 0) fail(path, "cannot rename into place");
    } catch (...) {
        ::unlink(tmp.c_str());
        throw;
    }
    fsync_directory(dir);
}

} // namespace hsm

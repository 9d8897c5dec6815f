// SPDX-License-Identifier: Apache-2.0
// One run of the shell.
#include "session.hpp"

#include "terminal_input.hpp"

#include "command_line.hpp"
#include "hsmsh/files.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/secret.hpp"
#include "line_input.hpp"

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ostream.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hsm {
namespace {

/// A script is read whole, to be checked before it runs.
constexpr std::size_t max_script_size = 4 * 1024 * 1024;

bool env_is(const char* name, std::string_view value) {
    const char* v = std::getenv(name);
    return v && v == value;
}

// --color auto: colour at a terminal that shows it, unless NO_COLOR is set;
// never in CMU mode, whose bytes are CMU's (expect scripts and transcripts
// match `createUser success on server`). --color always still colours.
bool use_color(color_mode mode, bool cmu_mode) {
    if (mode == color_mode::always) return true;
    if (mode == color_mode::never || cmu_mode) return false;
    const char* no_color = std::getenv("NO_COLOR");
    return ::isatty(STDOUT_FILENO) && !(no_color && *no_color) && !env_is("TERM", "dumb");
}

// The history file, only ever under the user's own directories: a directory
// that is not ours (or a link) could be read or replaced by someone else, so
// then no history is kept at all (an empty path).
fs::path history_path() {
    const char* state = std::getenv("XDG_STATE_HOME");
    const char* home = std::getenv("HOME");
    fs::path base = state && *state && fs::path(state).is_absolute() ? fs::path(state)
                    : home && *home && fs::path(home).is_absolute()
                        ? fs::path(home) / ".local" / "state"
                        : fs::path();
    if (base.empty()) return {};
    auto dir = base / "hsmsh";
    std::error_code ec;
    fs::create_directories(dir, ec);
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() ||
        (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return {};
    return dir / "history";
}

// Every -e command must parse before any server is contacted, and none may
// carry a password (argv is visible to every user of the machine).
std::optional<std::string> check_commands(const std::vector<std::string>& commands) {
    for (std::size_t i = 0; i < commands.size(); ++i) {
        try {
            auto cmd = parse_command(split_words(commands[i]));
            if (cmd && cmd->inline_password) {
                wipe(*cmd->inline_password);
                return fmt::format("-e {}: passwords are not accepted on the command line: use "
                                   "-hpswd and give the password on standard input",
                                   i + 1);
            }
        } catch (const usage_error& e) {
            return fmt::format("-e {}: {}", i + 1, e.what());
        }
    }
    return std::nullopt;
}

// After -e or -f, the lines standard input (where their passwords and
// answers come from) still holds: answers or passwords no command asked
// for. Only what is there now: a writer that keeps the pipe open is not
// waited for (the descriptor is non-blocking while it is read).
std::size_t unread_stdin_lines() {
    if (::isatty(STDIN_FILENO)) return 0;
    int flags = ::fcntl(STDIN_FILENO, F_GETFL);
    if (flags < 0 || ::fcntl(STDIN_FILENO, F_SETFL, flags | O_NONBLOCK) < 0) return 0;
    std::size_t lines = 0;
    bool in_line = false;
    auto* buf = std::cin.rdbuf();
    for (int c = buf->sbumpc(); c != std::char_traits<char>::eof(); c = buf->sbumpc()) {
        if (c == '\n') lines += in_line ? 1 : 0;
        in_line = c != '\n' && (in_line || !std::isspace(c));
    }
    ::fcntl(STDIN_FILENO, F_SETFL, flags);
    return lines + (in_line ? 1 : 0);
}

void report_unread_stdin() {
    if (auto left = unread_stdin_lines())
        fmt::print(std::cerr,
                   "hsmsh: standard input: {} line(s) left unread (answers or passwords that "
                   "no command asked for)\n",
                   left);
}

int run_lines(shell& sh, bool interactive, bool cmu_mode) {
    int status = sh.run();
    // CMU says it whenever it quits; hsmsh at a terminal only.
    if (interactive || cmu_mode) fmt::print("\ndisconnecting from servers, please wait...\n");
    sh.disconnect();
    return status;
}

// A first run: say what to do next, not only what is missing.
int no_configuration(const fs::path& path) {
    fmt::print(std::cerr,
               "hsmsh: no configuration at {}.\n"
               "  Try a local cluster first:  hsmsh demo\n"
               "  Or point hsmsh at yours:    hsmsh configure add-cluster --cluster-id "
               "cluster-1 --endpoint 10.0.0.1:2225 --hsm-ca-cert customerCA.crt "
               "--server-client-cert-file client.crt --server-client-key-file "
               "client.key\n",
               path.string());
    return exit_connection;
}

shell_options resolved_options(const session_options& options) {
    auto shell_opts = options.shell;
    shell_opts.color = use_color(options.color, shell_opts.cmu_mode);
    shell_opts.from_argv = !options.commands.empty();
    shell_opts.wait_notices = ::isatty(STDERR_FILENO) != 0;
    return shell_opts;
}

// Where the lines to run come from (-e, -f, the terminal or standard
// input) and their passwords and answers. Declared in the order the
// sources wrap each other: each outlives the ones built on it.
struct line_sources {
    batch_input stdin_lines{std::cin};
    std::optional<fd_passwords> fd_lines;
    std::istringstream script_stream;
    std::optional<batch_input> script_lines;
    std::unique_ptr<line_input> lines;
    std::unique_ptr<line_input> input;
    bool interactive = false;
    const shell* active = nullptr; // for Tab, once the shell exists

    // Without --password-fd, passwords come from the line source itself,
    // or (for -e and -f) from standard input.
    line_input& passwords() { return fd_lines ? static_cast<line_input&>(*fd_lines) : stdin_lines; }
};

std::optional<int> open_password_fd(int fd, line_sources& src) {
    if (fd < 0) return std::nullopt;
    if (::fcntl(fd, F_GETFD) < 0) {
        fmt::print(std::cerr, "hsmsh: --password-fd {}: not an open file descriptor\n", fd);
        return exit_usage;
    }
    src.fd_lines.emplace(fd);
    return std::nullopt;
}

std::optional<int> open_commands(const std::vector<std::string>& commands, line_sources& src) {
    if (auto problem = check_commands(commands)) {
        fmt::print(std::cerr, "hsmsh: {}\n", escape_terminal(*problem));
        return exit_usage;
    }
    src.input = std::make_unique<listed_input>(commands, src.stdin_lines);
    if (src.fd_lines) {
        src.lines = std::move(src.input);
        src.input = std::make_unique<with_passwords>(*src.lines, src.passwords());
    }
    return std::nullopt;
}

std::optional<int> open_script(const fs::path& script, const shell_options& shell_opts,
                               line_sources& src) {
    std::string text;
    try {
        text = read_file(script, max_script_size);
    } catch (const file_error& e) {
        fmt::print(std::cerr, "hsmsh: script {}: {}\n", script.string(), e.what());
        return exit_usage;
    }
    // The whole script is checked before any server is contacted: a
    // typo on line 4 must not stop it after line 2 changed users.
    if (!shell_opts.keep_going)
        if (auto problem = check_script(text, shell_opts.confirmations, shell_opts.assume_yes)) {
            fmt::print(std::cerr, "hsmsh: {}: {}\n", script.string(), escape_terminal(*problem));
            wipe(text);
            return exit_usage;
        }
    src.script_stream.str(std::move(text));
    src.script_lines.emplace(src.script_stream);
    src.input = std::make_unique<with_passwords>(*src.script_lines, src.passwords());
    return std::nullopt;
}

void open_terminal_or_stdin(line_sources& src) {
    src.interactive = ::isatty(STDIN_FILENO) != 0;
    if (src.interactive)
        src.lines = std::make_unique<terminal_input>(
            history_path(), [&src](const auto& before, const auto& partial) {
                return src.active ? src.active->complete(before, partial)
                                  : complete_words(before, partial, {});
            });
    else
        src.lines = std::make_unique<batch_input>(std::cin);
    if (src.fd_lines)
        src.input = std::make_unique<with_passwords>(*src.lines, src.passwords());
    else
        src.input = std::move(src.lines);
}

// Sets up `src` for `options`; an exit status when it cannot be.
std::optional<int> open_line_sources(const session_options& options,
                                     const shell_options& shell_opts, line_sources& src) {
    if (auto failed = open_password_fd(options.password_fd, src)) return failed;
    if (!options.commands.empty()) return open_commands(options.commands, src);
    if (!options.script.empty()) return open_script(options.script, shell_opts, src);
    open_terminal_or_stdin(src);
    return std::nullopt;
}

} // namespace

std::shared_ptr<const secret> take_environment_password() {
    char* value = std::getenv("HSMSH_PASSWORD");
    if (!value) return nullptr;
    auto password = std::make_shared<const secret>(std::string(value));
    wipe(value, std::strlen(value));
    ::unsetenv("HSMSH_PASSWORD");
    return password;
}

int run_session(const session_options& options) {
    try {
        auto path = options.config.empty() ? default_config_path() : options.config;
        if (!fs::exists(path)) return no_configuration(path);
        auto config = load_config(path);
        auto shell_opts = resolved_options(options);
        line_sources src;
        if (auto failed = open_line_sources(options, shell_opts, src)) return *failed;
        shell sh(std::move(config), options.cluster, from_seconds(options.connect_timeout),
                 from_seconds(options.request_timeout), *src.input, std::cout, std::cerr,
                 shell_opts);
        src.active = &sh;
        if (sh.connect_all() == 0) {
            fmt::print(std::cerr, "hsmsh: no server of cluster '{}' could be reached\n",
                       sh.cluster_id());
            return exit_connection;
        }
        int status = run_lines(sh, src.interactive, shell_opts.cmu_mode);
        bool stdin_answers =
            !src.fd_lines && (!options.commands.empty() || !options.script.empty());
        if (stdin_answers) report_unread_stdin();
        return status;
    } catch (const std::exception& e) { // config_error included: exit status 3 alike
        fmt::print(std::cerr, "hsmsh: {}\n", e.what());
        return exit_connection;
    }
}

} // namespace hsm

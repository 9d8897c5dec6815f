// SPDX-License-Identifier: Apache-2.0
// The interactive line source on libedit.
#include "terminal_input.hpp"

#include "columns.hpp"

#include "command_line.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cwchar>
#include <iostream>

#include <histedit.h>
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

namespace hsm {

std::atomic<bool> interrupt_requested{false};

namespace {

extern "C" void on_interrupt(int) {
    interrupt_requested.store(true);
}

struct editline_free {
    void operator()(EditLine* e) const noexcept { el_end(e); }
};
struct history_free {
    void operator()(History* h) const noexcept { history_end(h); }
};

// Restores the terminal's echo on every path out of a password prompt.
class echo_off {
public:
    echo_off() {
        if (tcgetattr(STDIN_FILENO, &saved_) == 0) {
            termios quiet = saved_;
            quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
            // TCSANOW, not TCSAFLUSH: a password typed ahead must not be lost.
            active_ = tcsetattr(STDIN_FILENO, TCSANOW, &quiet) == 0;
        }
    }
    ~echo_off() {
        if (active_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    }
    echo_off(const echo_off&) = delete;
    echo_off& operator=(const echo_off&) = delete;

private:
    termios saved_{};
    bool active_ = false;
};

constexpr wchar_t ctrl_c = L'\x03';

// Waits until standard input can be read; false when a SIGINT came first
// (then or before, since the last one was taken). SIGINT is blocked from
// the check to the wait, which unblocks it atomically: one arriving in
// between ends the wait instead of being missed.
bool wait_for_input() {
    sigset_t sigint, saved;
    sigemptyset(&sigint);
    sigaddset(&sigint, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigint, &saved);
    pollfd in{STDIN_FILENO, POLLIN, 0};
    bool interrupted = interrupt_requested.exchange(false);
    while (!interrupted && ::ppoll(&in, 1, nullptr, &saved) < 0 && errno == EINTR)
        interrupted = interrupt_requested.exchange(false);
    pthread_sigmask(SIG_SETMASK, &saved, nullptr);
    return !interrupted;
}

} // namespace

void install_interrupt_handler() {
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: a blocked read returns EINTR
    sigaction(SIGINT, &sa, nullptr);
}

struct terminal_input::impl {
    std::unique_ptr<EditLine, editline_free> el;
    std::unique_ptr<History, history_free> history;
    std::filesystem::path history_file;
    completer complete;
    std::string prompt;
    bool cleared = false;
    bool signalled = false; // the Ctrl-C came as a signal (the terminal echoed it)

    static impl* of(EditLine* el) {
        void* data = nullptr;
        el_get(el, EL_CLIENTDATA, &data);
        return static_cast<impl*>(data);
    }

    static char* prompt_of(EditLine* el) { return of(el)->prompt.data(); }

    // Ctrl-C: abandon the line. The cursor goes to its end first, so that
    // the "^C" read_line prints follows what was typed, as a shell shows it.
    static unsigned char clear_line(EditLine* el, int) {
        of(el)->cleared = true;
        const LineInfo* li = el_line(el);
        el_cursor(el, static_cast<int>(li->lastchar - li->cursor));
        return CC_NEWLINE;
    }

    // The line editor's key reader. libedit's own retries a read a signal
    // interrupted once and then gives up silently, and never sees a SIGINT
    // that came before its read: a Ctrl-C typed while the terminal was still
    // cooked (between two lines: a signal, not a key) left the shell waiting
    // with no fresh prompt and the interrupt pending for the next question.
    // Here such a Ctrl-C is the editor's Ctrl-C key: the line is abandoned.
    // Returns 1 with a character, 0 at end of input, -1 on an error.
    static int read_key(EditLine* el, wchar_t* out) {
        std::mbstate_t state{};
        for (;;) {
            if (!wait_for_input()) {
                of(el)->signalled = true;
                *out = ctrl_c;
                return 1;
            }
            char byte = 0;
            ssize_t n = ::read(STDIN_FILENO, &byte, 1);
            if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (n <= 0) return n == 0 ? 0 : -1;
            std::size_t used = std::mbrtowc(out, &byte, 1, &state);
            if (used == static_cast<std::size_t>(-2)) continue; // more bytes to come
            if (used != static_cast<std::size_t>(-1)) return 1;
            state = {}; // a broken sequence is dropped, as libedit drops it
        }
    }

    static unsigned char complete_word(EditLine* el, int) {
        auto* self = of(el);
        const LineInfo* li = el_line(el);
        std::string before(li->buffer, li->cursor);
        auto start = before.find_last_of(" \t");
        std::string partial = start == std::string::npos ? before : before.substr(start + 1);
        std::vector<std::string> words;
        try {
            words = split_words(start == std::string::npos ? "" : before.substr(0, start));
        } catch (const usage_error&) {
            return CC_ERROR;
        }
        auto options = self->complete(words, partial);
        if (options.empty()) return CC_ERROR;
        if (options.size() == 1) {
            std::string rest = options.front().substr(partial.size()) + " ";
            el_insertstr(el, rest.c_str());
            return CC_REFRESH;
        }
        std::fputc('\n', stdout);
        std::fputs(in_columns(options, terminal_width()).c_str(), stdout);
        return CC_REDISPLAY;
    }
};

terminal_input::terminal_input(std::filesystem::path history_file, completer complete)
    : impl_(std::make_unique<impl>()) {
    impl_->history_file = std::move(history_file);
    impl_->complete = std::move(complete);
    impl_->el.reset(el_init("hsmsh", stdin, stdout, stderr));
    impl_->history.reset(history_init());
    if (!impl_->el || !impl_->history) throw std::runtime_error("libedit initialisation failed");
    EditLine* el = impl_->el.get();
    HistEvent ev;
    history(impl_->history.get(), &ev, H_SETSIZE, 1000);
    history(impl_->history.get(), &ev, H_SETUNIQUE, 1);
    el_set(el, EL_CLIENTDATA, impl_.get());
    el_set(el, EL_EDITOR, "emacs");
    el_set(el, EL_HIST, history, impl_->history.get());
    el_set(el, EL_PROMPT, &impl::prompt_of);
    el_set(el, EL_SETTY, "-d", "-isig", nullptr);
    el_set(el, EL_GETCFN, &impl::read_key);
    el_set(el, EL_ADDFN, "hsmsh-clear", "Abandon the line", &impl::clear_line);
    el_set(el, EL_BIND, "^C", "hsmsh-clear", nullptr);
    el_set(el, EL_ADDFN, "hsmsh-complete", "Complete the word", &impl::complete_word);
    el_set(el, EL_BIND, "^I", "hsmsh-complete", nullptr);
    el_set(el, EL_BIND, "^R", "em-inc-search-prev", nullptr);
    if (!impl_->history_file.empty())
        history(impl_->history.get(), &ev, H_LOAD, impl_->history_file.c_str());
}

terminal_input::~terminal_input() = default;

std::optional<std::string> terminal_input::read_line(const std::string& prompt,
                                                     bool interruptible) {
    for (;;) {
        // A Ctrl-C, typed as a key or come as a signal (read_key), clears the line.
        impl_->prompt = prompt;
        impl_->cleared = false;
        impl_->signalled = false;
        int count = 0;
        const char* line = el_gets(impl_->el.get(), &count);
        if (impl_->cleared) {
            // libedit leaves the cursor after the abandoned text: the next
            // prompt starts on a line of its own.
            std::fputs(impl_->signalled ? "\n" : "^C\n", stdout);
            std::fflush(stdout);
            if (interruptible) return std::nullopt;
            continue;
        }
        if (!line || count <= 0) return std::nullopt;
        std::string out(line, static_cast<std::size_t>(count));
        if (!out.empty() && out.back() == '\n') out.pop_back();
        return out;
    }
}

std::optional<std::string> terminal_input::read_command(const std::string& prompt) {
    return read_line(prompt, false);
}

std::optional<std::string> terminal_input::read_answer(const std::string& prompt) {
    // Ctrl-C answers a question with its safe choice: the caller sees no answer.
    return read_line(prompt, true);
}

std::optional<secret> terminal_input::read_password(const std::string& prompt) {
    std::string text;
    {
        // Echo goes off before the prompt shows, so nothing typed after it is seen.
        echo_off quiet;
        std::fputs(prompt.c_str(), stdout);
        std::fflush(stdout);
        char c = 0;
        for (;;) {
            // A Ctrl-C between the prompt and the read would otherwise be
            // taken by the handler with no read to interrupt, and the shell
            // would wait at 'Enter password:' (shell-pty caught it once).
            bool readable = wait_for_input();
            ssize_t n = readable ? ::read(STDIN_FILENO, &c, 1) : 0;
            if (n < 0 && errno == EINTR && !interrupt_requested.load()) continue;
            if (n <= 0) {
                wipe(text);
                std::fputc('\n', stdout);
                return std::nullopt;
            }
            if (c == '\n' || c == '\r') break;
            if (text.size() <= max_line_length) text.push_back(c);
        }
    }
    std::fputc('\n', stdout);
    secret out{std::string(text)};
    wipe(text);
    return out;
}

void terminal_input::remember(const std::string& text) {
    if (text.empty() || text.front() == ' ') return;
    HistEvent ev;
    history(impl_->history.get(), &ev, H_ENTER, text.c_str());
    if (impl_->history_file.empty()) return; // kept in memory only
    mode_t old = ::umask(077);
    history(impl_->history.get(), &ev, H_SAVE, impl_->history_file.c_str());
    ::umask(old);
    ::chmod(impl_->history_file.c_str(), 0600);
}

} // namespace hsm

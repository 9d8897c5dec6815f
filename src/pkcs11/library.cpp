// SPDX-License-Identifier: Apache-2.0
// C_Initialize and C_Finalize: the state one initialisation makes, its lock,
// and how calls find their session and slot in it.
#include "library.hpp"

#include "diagnostics.hpp"
#include "hsmsh/client/config.hpp"
#include "module_config.hpp"
#include "openssl_context.hpp"
#include "sessions.hpp"
#include "tokens.hpp"

#include <new>

#include <fmt/format.h>

#include <unistd.h>

namespace hsm::p11 {

library_lock::library_lock(const CK_C_INITIALIZE_ARGS* args) {
    if (!args) return;
    int given = (args->CreateMutex != nullptr) + (args->DestroyMutex != nullptr) +
                (args->LockMutex != nullptr) + (args->UnlockMutex != nullptr);
    require(given == 0 || given == 4, CKR_ARGUMENTS_BAD);
    // With CKF_OS_LOCKING_OK the application accepts the OS's locks (ours);
    // without callbacks it promises one thread, and we lock all the same.
    if (given == 0 || (args->flags & CKF_OS_LOCKING_OK)) return;
    auto rv = args->CreateMutex(&application_);
    require(rv == CKR_OK, rv);
    destroy_ = args->DestroyMutex;
    lock_ = args->LockMutex;
    unlock_ = args->UnlockMutex;
}

library_lock::~library_lock() {
    if (destroy_) destroy_(application_);
}

void library_lock::lock() {
    if (!lock_) return os_.lock();
    auto rv = lock_(application_);
    require(rv == CKR_OK, rv);
}

void library_lock::unlock() noexcept {
    if (!unlock_) return os_.unlock();
    unlock_(application_);
}

library& library::get() {
    // Never destroyed (see the class).
    static library* const one = new library;
    return *one;
}

CK_RV library::initialize(const CK_C_INITIALIZE_ARGS* args) {
    if (args && args->pReserved) return CKR_ARGUMENTS_BAD;
    if (!module_libctx()) return CKR_GENERAL_ERROR;
    std::lock_guard lock(mutex_);
    // A child of a process that used the module starts afresh; the parent's
    // connections belong to threads the child does not have: never freed here.
    if (current_ && current_->pid != getpid())
        static_cast<void>(new std::shared_ptr<instance>(std::move(current_)));
    if (current_) return CKR_CRYPTOKI_ALREADY_INITIALIZED;
    auto made = std::make_shared<instance>(args);
    made->pid = getpid();
    auto path = default_config_path();
    module_settings settings;
    try {
        settings = read_settings(path);
    } catch (const config_error& e) {
        // A wrong log or timeout setting never keeps an application from its keys.
        log(log_level::error, fmt::format("{}: {} (the defaults apply)", path.string(), e.what()));
    }
    set_logging(settings.level, settings.syslog);
    try {
        auto config = load_config(path);
        for (auto& c : config.clusters)
            made->slots.push_back(
                std::make_shared<slot>(made->slots.size(), std::move(c), settings));
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception& e) {
        // No usable configuration: a module with no slot, as a reader with no card.
        log(log_level::warning, fmt::format("no slot: {}", e.what()));
        made->slots.clear();
    }
    log(log_level::info,
        fmt::format("C_Initialize: {} slot(s) from {}", made->slots.size(), path.string()));
    current_ = std::move(made);
    return CKR_OK;
}

CK_RV library::finalize() {
    std::shared_ptr<instance> ending;
    {
        std::lock_guard lock(mutex_);
        if (!current_ || current_->pid != getpid()) return CKR_CRYPTOKI_NOT_INITIALIZED;
        ending = std::move(current_);
    }
    // Later calls find no instance; calls in flight keep what they hold, and
    // the last of them frees it (each slot closes its connections then).
    std::map<CK_SESSION_HANDLE, std::shared_ptr<session>> closing;
    {
        std::lock_guard lock(ending->lock);
        ending->finalized = true;
        closing.swap(ending->sessions);
    }
    return CKR_OK;
}

std::shared_ptr<instance> library::current() {
    std::lock_guard lock(mutex_);
    require(current_ && current_->pid == getpid(), CKR_CRYPTOKI_NOT_INITIALIZED);
    return current_;
}

std::shared_ptr<session> library::session_of(CK_SESSION_HANDLE h) {
    auto now = current();
    std::lock_guard lock(now->lock);
    now->require_live();
    auto it = now->sessions.find(h);
    require(it != now->sessions.end(), CKR_SESSION_HANDLE_INVALID);
    return it->second;
}

std::shared_ptr<slot> library::slot_of(CK_SLOT_ID id) {
    auto now = current();
    require(id < now->slots.size(), CKR_SLOT_ID_INVALID);
    return now->slots[id];
}

} // namespace hsm::p11

// SPDX-License-Identifier: Apache-2.0
// pkcs11_sign MODULE PIN LABEL ec|rsa THREADS COUNT: signs COUNT times per
// thread through any PKCS#11 module (ours, SoftHSM2) with one session per
// thread, after making the key pair LABEL if the token has none, and prints
// one JSON line: signatures per second, p50/p99 latency, this process's CPU
// per signature. The same C loop for every module (bench/run.py).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <sys/resource.h>

namespace {

CK_FUNCTION_LIST_PTR p11 = nullptr;

[[noreturn]] void fail(const char* what, CK_RV rv) {
    std::fprintf(stderr, "pkcs11_sign: %s: 0x%lx\n", what, static_cast<unsigned long>(rv));
    std::exit(1);
}

void check(const char* what, CK_RV rv) {
    if (rv != CKR_OK) fail(what, rv);
}

CK_OBJECT_HANDLE find_key(CK_SESSION_HANDLE s, const std::string& label) {
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls},
                        {CKA_LABEL, const_cast<char*>(label.data()), label.size()}};
    check("C_FindObjectsInit", p11->C_FindObjectsInit(s, t, 2));
    CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
    CK_ULONG n = 0;
    check("C_FindObjects", p11->C_FindObjects(s, &key, 1, &n));
    check("C_FindObjectsFinal", p11->C_FindObjectsFinal(s));
    return n ? key : CK_INVALID_HANDLE;
}

void make_key(CK_SESSION_HANDLE s, const std::string& label, bool ec) {
    static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    static const CK_BYTE exponent[] = {0x01, 0x00, 0x01};
    CK_BBOOL yes = CK_TRUE;
    CK_ULONG bits = 2048;
    auto* name = const_cast<char*>(label.data());
    std::vector<CK_ATTRIBUTE> pub = {{CKA_TOKEN, &yes, sizeof yes},
                                     {CKA_VERIFY, &yes, sizeof yes},
                                     {CKA_LABEL, name, label.size()}};
    if (ec)
        pub.push_back({CKA_EC_PARAMS, const_cast<CK_BYTE*>(p256), sizeof p256});
    else {
        pub.push_back({CKA_MODULUS_BITS, &bits, sizeof bits});
        pub.push_back({CKA_PUBLIC_EXPONENT, const_cast<CK_BYTE*>(exponent), sizeof exponent});
    }
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &yes, sizeof yes},
                           {CKA_PRIVATE, &yes, sizeof yes},
                           {CKA_SENSITIVE, &yes, sizeof yes},
                           {CKA_SIGN, &yes, sizeof yes},
                           {CKA_LABEL, name, label.size()}};
    CK_MECHANISM m{ec ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
    CK_OBJECT_HANDLE a = 0, b = 0;
    check("C_GenerateKeyPair",
          p11->C_GenerateKeyPair(s, &m, pub.data(), pub.size(), priv, 5, &a, &b));
}

double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 7) {
        std::fprintf(stderr, "usage: pkcs11_sign MODULE PIN LABEL ec|rsa THREADS COUNT\n");
        return 2;
    }
    std::string pin = argv[2], label = argv[3];
    bool ec = std::strcmp(argv[4], "ec") == 0;
    int threads = std::max(1, std::atoi(argv[5]));
    int count = std::max(1, std::atoi(argv[6]));
    void* lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) {
        std::fprintf(stderr, "pkcs11_sign: %s\n", dlerror());
        return 1;
    }
    auto get = reinterpret_cast<CK_C_GetFunctionList>(dlsym(lib, "C_GetFunctionList"));
    check("C_GetFunctionList", get ? get(&p11) : CKR_GENERAL_ERROR);
    CK_C_INITIALIZE_ARGS init{};
    init.flags = CKF_OS_LOCKING_OK;
    check("C_Initialize", p11->C_Initialize(&init));
    CK_ULONG slots = 0;
    check("C_GetSlotList", p11->C_GetSlotList(CK_TRUE, nullptr, &slots));
    std::vector<CK_SLOT_ID> slot_ids(slots);
    check("C_GetSlotList", p11->C_GetSlotList(CK_TRUE, slot_ids.data(), &slots));
    if (slots == 0) fail("no token", CKR_TOKEN_NOT_PRESENT);
    CK_SLOT_ID slot = slot_ids[0];
    std::vector<CK_SESSION_HANDLE> sessions(static_cast<std::size_t>(threads));
    for (auto& s : sessions)
        check("C_OpenSession",
              p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s));
    check("C_Login", p11->C_Login(sessions[0], CKU_USER, reinterpret_cast<CK_UTF8CHAR*>(pin.data()),
                                  pin.size()));
    auto key = find_key(sessions[0], label);
    if (key == CK_INVALID_HANDLE) {
        make_key(sessions[0], label, ec);
        key = find_key(sessions[0], label);
    }
    // ECDSA over a digest (SoftHSM 2.6 has no CKM_ECDSA_SHA256); RSA PKCS#1 with SHA-256.
    CK_MECHANISM mechanism{ec ? CKM_ECDSA : CKM_SHA256_RSA_PKCS, nullptr, 0};
    std::vector<std::vector<double>> latencies(static_cast<std::size_t>(threads));
    double cpu0 = cpu_seconds();
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            auto s = sessions[static_cast<std::size_t>(t)];
            CK_BYTE data[32];
            std::memset(data, t, sizeof data);
            CK_BYTE signature[512];
            for (int i = 0; i < count; ++i) {
                auto t0 = std::chrono::steady_clock::now();
                CK_ULONG len = sizeof signature;
                check("C_SignInit", p11->C_SignInit(s, &mechanism, key));
                check("C_Sign", p11->C_Sign(s, data, sizeof data, signature, &len));
                latencies[static_cast<std::size_t>(t)].push_back(
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            }
        });
    for (auto& w : workers)
        w.join();
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double cpu = cpu_seconds() - cpu0;
    std::vector<double> all;
    for (auto& l : latencies)
        all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    auto total = static_cast<double>(all.size());
    std::printf("{\"signatures\": %zu, \"per_s\": %.1f, \"p50_s\": %.6f, \"p99_s\": %.6f, "
                "\"cpu_per_signature_s\": %.6f}\n",
                all.size(), total / wall, all[all.size() / 2], all[all.size() * 99 / 100],
                cpu / total);
    p11->C_Logout(sessions[0]);
    p11->C_Finalize(nullptr);
    return 0;
}

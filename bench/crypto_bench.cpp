// Micro-benchmarks for the crypto module. Figures and how to read them: docs/performance.md.
#include <benchmark/benchmark.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include <cstring>
#include <vector>

#include "crypto/merkle.h"
#include "crypto/schnorr.h"
#include "crypto/sha256.h"

namespace {

using namespace peerchain;

// Header-sized message: 64 fixed bytes + a 52-byte tail carrying a 4-byte nonce.
constexpr size_t kHeaderSize = 116;
constexpr size_t kNonceOffsetInTail = 48;

util::Bytes sample_bytes(size_t n, uint8_t seed) {
  util::Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 131);
  return b;
}

void BM_HeaderHashMidstate(benchmark::State& state) {
  const auto header = sample_bytes(kHeaderSize, 1);
  crypto::Sha256dMidstate mid(util::ByteSpan(header.data(), 64));
  auto padded = crypto::Sha256dMidstate::pad_tail(util::ByteSpan(header.data() + 64, kHeaderSize - 64));
  uint32_t nonce = 0;
  for (auto _ : state) {
    std::memcpy(padded.data() + kNonceOffsetInTail, &nonce, 4);
    ++nonce;
    auto h = mid.hash(padded);
    benchmark::DoNotOptimize(h);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_HeaderHashMidstate);

void BM_Sha256d_116(benchmark::State& state) {
  auto header = sample_bytes(kHeaderSize, 2);
  uint32_t nonce = 0;
  for (auto _ : state) {
    std::memcpy(header.data() + 64 + kNonceOffsetInTail, &nonce, 4);
    ++nonce;
    auto h = crypto::sha256d(header);
    benchmark::DoNotOptimize(h);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Sha256d_116);

struct SignedMessage {
  crypto::SecretKey key;
  crypto::XOnlyPubKey pubkey;
  crypto::Hash256 msg;
  crypto::SchnorrSig sig;
};

SignedMessage signed_message() {
  auto key = *crypto::SecretKey::from_bytes(crypto::sha256(util::as_bytes("bench key")));
  auto msg = crypto::sha256(util::as_bytes("bench message"));
  auto sig = key.sign(msg);
  return {key, key.pubkey(), msg, sig};
}

void BM_SchnorrVerify(benchmark::State& state) {
  const auto sm = signed_message();
  for (auto _ : state) {
    bool ok = crypto::schnorr_verify(sm.pubkey, sm.msg.span(), sm.sig);
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_SchnorrVerify);

// The floor: libsecp256k1 directly, pubkey parsed once outside the loop.
void BM_SchnorrVerifyRawSecp256k1(benchmark::State& state) {
  const auto sm = signed_message();
  secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  secp256k1_xonly_pubkey pk;
  if (!secp256k1_xonly_pubkey_parse(ctx, &pk, sm.pubkey.data.data())) state.SkipWithError("parse");
  for (auto _ : state) {
    int ok = secp256k1_schnorrsig_verify(ctx, sm.sig.data.data(), sm.msg.data.data(), 32, &pk);
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  secp256k1_context_destroy(ctx);
}
BENCHMARK(BM_SchnorrVerifyRawSecp256k1);

// libsecp256k1 directly, parsing the 32-byte pubkey on every call as schnorr_verify must
// (its API takes pubkey bytes): the like-for-like comparison.
void BM_SchnorrVerifyRawSecp256k1WithParse(benchmark::State& state) {
  const auto sm = signed_message();
  secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  for (auto _ : state) {
    secp256k1_xonly_pubkey pk;
    int ok = secp256k1_xonly_pubkey_parse(ctx, &pk, sm.pubkey.data.data()) &&
             secp256k1_schnorrsig_verify(ctx, sm.sig.data.data(), sm.msg.data.data(), 32, &pk);
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  secp256k1_context_destroy(ctx);
}
BENCHMARK(BM_SchnorrVerifyRawSecp256k1WithParse);

// Batch verification (ADR 0022): n signatures by distinct keys checked as one batch; the items
// per second compare with BM_SchnorrVerify's (the ratio is the gain per signature).
void BM_SchnorrVerifyBatch(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  struct One {
    crypto::XOnlyPubKey pubkey;
    crypto::Hash256 msg;
    crypto::SchnorrSig sig;
  };
  std::vector<One> sigs;
  for (size_t i = 0; i < n; ++i) {
    auto key = crypto::SecretKey::generate();
    auto msg = crypto::sha256(util::as_bytes("batch " + std::to_string(i)));
    sigs.push_back({key.pubkey(), msg, key.sign(msg)});
  }
  std::vector<crypto::SchnorrCheck> checks;
  for (const auto& s : sigs) checks.push_back({&s.pubkey, s.msg, &s.sig});
  for (auto _ : state) {
    bool ok = crypto::schnorr_verify_batch(checks);
    if (!ok) state.SkipWithError("batch failed");
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_SchnorrVerifyBatch)->Arg(2)->Arg(8)->Arg(16)->Arg(32)->Arg(64)->Arg(128)->Arg(256)->Arg(512);

void BM_SchnorrSign(benchmark::State& state) {
  const auto sm = signed_message();
  auto msg = sm.msg;
  for (auto _ : state) {
    auto sig = sm.key.sign(msg);
    benchmark::DoNotOptimize(sig);
    msg[0]++;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_SchnorrSign);

// A recipient's key check (check_tx_shape) over the keys of N accounts in a random order, as a
// block of a load run with N accounts asks it: a parsed-key cache hit, or a field square root.
void BM_RecipientKeyCheck(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  std::vector<crypto::XOnlyPubKey> keys;
  for (size_t i = 0; i < n; ++i) {
    util::FixedBytes<32> b{};
    b.data[0] = 1;
    b.data[30] = static_cast<uint8_t>(i >> 8);
    b.data[31] = static_cast<uint8_t>(i);
    keys.push_back(crypto::SecretKey::from_bytes(b)->pubkey());
  }
  uint64_t x = 88172645463325252ULL;
  for (auto _ : state) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    benchmark::DoNotOptimize(crypto::is_valid_pubkey(keys[x % n]));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_RecipientKeyCheck)->Arg(1000)->Arg(3000)->Arg(10000);

void BM_MerkleRoot5000(benchmark::State& state) {
  std::vector<crypto::Hash256> ids(5000);
  for (size_t i = 0; i < ids.size(); ++i) {
    uint32_t v = static_cast<uint32_t>(i);
    ids[i] = crypto::sha256(util::ByteSpan(reinterpret_cast<const uint8_t*>(&v), sizeof v));
  }
  for (auto _ : state) {
    auto root = crypto::merkle_root(ids);
    benchmark::DoNotOptimize(root);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 5000);
}
BENCHMARK(BM_MerkleRoot5000);

}  // namespace

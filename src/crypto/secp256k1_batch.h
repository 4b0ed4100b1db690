// BIP340 batch verification, built inside libsecp256k1's own translation unit
// (secp256k1_batch.c) because it needs the library's internal multi-scalar multiplication.
#ifndef PEERCHAIN_CRYPTO_SECP256K1_BATCH_H
#define PEERCHAIN_CRYPTO_SECP256K1_BATCH_H

#include <stddef.h>

#include "secp256k1.h"
#include "secp256k1_extrakeys.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of scratch space (secp256k1_scratch_space_create) a batch of n signatures needs to be
 * checked in one multi-multiplication. */
size_t peerchain_schnorrsig_batch_scratch_size(size_t n);

/* 1 when every one of the n BIP340 signatures over 32-byte messages is valid, 0 when any is not
 * or an input is malformed (then verify each alone to learn which). It checks
 *   sum_i a_i*R_i + (a_i*e_i)*P_i - (a_i*s_i)*G = infinity
 * with a_0 = 1 and the other a_i hashed from seed32 and every input, so no signer can choose a
 * signature that cancels against another; keep seed32 secret. An invalid batch passes with
 * probability below 2^-128. */
int peerchain_schnorrsig_verify_batch(const secp256k1_context* ctx, secp256k1_scratch_space* scratch,
                                      const unsigned char* const* sig64, const unsigned char* const* msg32,
                                      const secp256k1_xonly_pubkey* const* pubkeys, size_t n,
                                      const unsigned char* seed32);

#ifdef __cplusplus
}
#endif

#endif

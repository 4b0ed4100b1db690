/* libsecp256k1 0.2.0 (third_party/secp256k1) as one translation unit, configured as Debian's
 * package was, plus BIP340 batch verification (ADR 0022), which needs the library's static
 * internals: field and group arithmetic, the tagged challenge hash and the multi-scalar
 * multiplication (Strauss below 88 points, Pippenger above). */
#define ENABLE_MODULE_EXTRAKEYS 1
#define ENABLE_MODULE_SCHNORRSIG 1
#define ECMULT_WINDOW_SIZE 15
#define ECMULT_GEN_PREC_BITS 4

#include "secp256k1.c"

#include "crypto/secp256k1_batch.h"
typedef struct {
    const secp256k1_scalar* scalars;
    const secp256k1_ge* points;
} peerchain_batch_points;

static int peerchain_batch_point(secp256k1_scalar* sc, secp256k1_ge* pt, size_t idx, void* data) {
    const peerchain_batch_points* d = (const peerchain_batch_points*)data;
    *sc = d->scalars[idx];
    *pt = d->points[idx];
    return 1;
}

size_t peerchain_schnorrsig_batch_scratch_size(size_t n) {
    /* secp256k1_ecmult_multi_var takes Pippenger's algorithm from ECMULT_PIPPENGER_THRESHOLD
     * points on (if the scratch holds them all) and Strauss' below: size for the one it takes. */
    size_t points = 2 * n;
    if (points >= ECMULT_PIPPENGER_THRESHOLD) {
        return secp256k1_pippenger_scratch_size(points, secp256k1_pippenger_bucket_window(points)) +
               PIPPENGER_SCRATCH_OBJECTS * ALIGNMENT;
    }
    return secp256k1_strauss_scratch_size(points) + STRAUSS_SCRATCH_OBJECTS * ALIGNMENT;
}

int peerchain_schnorrsig_verify_batch(const secp256k1_context* ctx, secp256k1_scratch_space* scratch,
                                      const unsigned char* const* sig64, const unsigned char* const* msg32,
                                      const secp256k1_xonly_pubkey* const* pubkeys, size_t n,
                                      const unsigned char* seed32) {
    secp256k1_sha256 sha;
    unsigned char base[32];
    secp256k1_scalar* scalars;
    secp256k1_ge* points;
    secp256k1_scalar sum_s;
    secp256k1_gej acc;
    peerchain_batch_points data;
    size_t i;
    int ok = 0;

    VERIFY_CHECK(ctx != NULL);
    ARG_CHECK(scratch != NULL);
    ARG_CHECK(n == 0 || (sig64 != NULL && msg32 != NULL && pubkeys != NULL));
    ARG_CHECK(seed32 != NULL);
    if (n == 0) return 1;
    /* A batch of one is a plain verification. */
    if (n == 1) return secp256k1_schnorrsig_verify(ctx, sig64[0], msg32[0], 32, pubkeys[0]);

    /* The randomizers: a hash of the caller's secret seed and every input, so no signer can
     * choose a signature that cancels against another's. */
    secp256k1_sha256_initialize(&sha);
    secp256k1_sha256_write(&sha, seed32, 32);
    for (i = 0; i < n; i++) {
        secp256k1_sha256_write(&sha, sig64[i], 64);
        secp256k1_sha256_write(&sha, msg32[i], 32);
        secp256k1_sha256_write(&sha, pubkeys[i]->data, 64);
    }
    secp256k1_sha256_finalize(&sha, base);

    scalars = (secp256k1_scalar*)checked_malloc(&ctx->error_callback, 2 * n * sizeof(secp256k1_scalar));
    points = (secp256k1_ge*)checked_malloc(&ctx->error_callback, 2 * n * sizeof(secp256k1_ge));
    if (scalars == NULL || points == NULL) goto done;

    secp256k1_scalar_clear(&sum_s);
    for (i = 0; i < n; i++) {
        secp256k1_scalar a, s, e;
        secp256k1_fe rx;
        secp256k1_ge pk;
        unsigned char pkbuf[32];
        int overflow;

        if (!secp256k1_fe_set_b32(&rx, &sig64[i][0])) goto done;
        secp256k1_scalar_set_b32(&s, &sig64[i][32], &overflow);
        if (overflow) goto done;
        if (!secp256k1_xonly_pubkey_load(ctx, &pk, pubkeys[i])) goto done;
        /* R: the point with x = r and even y; no such point, no valid signature. */
        if (!secp256k1_ge_set_xo_var(&points[2 * i], &rx, 0)) goto done;

        if (i == 0) {
            secp256k1_scalar_set_int(&a, 1);
        } else {
            unsigned char idx[9];
            unsigned char out[32];
            size_t k;
            for (k = 0; k < 8; k++) idx[k] = (unsigned char)(i >> (8 * k));
            idx[8] = 0;
            do {
                /* a_i = H(base || i || attempt); a zero or overflowing hash (never seen in
                 * practice) takes the next attempt. */
                secp256k1_sha256_initialize(&sha);
                secp256k1_sha256_write(&sha, base, 32);
                secp256k1_sha256_write(&sha, idx, 9);
                secp256k1_sha256_finalize(&sha, out);
                secp256k1_scalar_set_b32(&a, out, &overflow);
                idx[8]++;
            } while (overflow || secp256k1_scalar_is_zero(&a));
        }

        secp256k1_fe_get_b32(pkbuf, &pk.x);
        secp256k1_schnorrsig_challenge(&e, &sig64[i][0], msg32[i], 32, pkbuf);

        /* a*R + (a*e)*P - (a*s)*G summed over the batch must be the point at infinity. */
        scalars[2 * i] = a;
        secp256k1_scalar_mul(&e, &e, &a);
        scalars[2 * i + 1] = e;
        points[2 * i + 1] = pk;
        secp256k1_scalar_mul(&s, &s, &a);
        secp256k1_scalar_add(&sum_s, &sum_s, &s);
    }
    secp256k1_scalar_negate(&sum_s, &sum_s);

    data.scalars = scalars;
    data.points = points;
    if (!secp256k1_ecmult_multi_var(&ctx->error_callback, scratch, &acc, &sum_s, peerchain_batch_point, &data, 2 * n))
        goto done;
    ok = secp256k1_gej_is_infinity(&acc);

done:
    free(scalars);
    free(points);
    return ok;
}


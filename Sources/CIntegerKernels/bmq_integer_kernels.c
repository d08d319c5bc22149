// The integer datapath's kernels: byte dot products (u8 activations, offset into 0...255, times s8
// weights, summed in 32 bits), requantization and pooling. Each unit's kernel is compiled for its
// instructions by a target attribute and chosen at run time, so the rest of the build needs no
// special flags; the requantization and pooling loops are plain C the compiler vectorises.
#include "bmq_integer_kernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define BMQ_X86 1
#include <immintrin.h>
#endif

static int detect_units(void) {
    int units = 0;
#if BMQ_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) units |= BMQ_DOT_AVX2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512vnni"))
        units |= BMQ_DOT_AVX512_VNNI;
#endif
    // For tests: BMQ_INTEGER_UNITS=avx2 or =portable runs the fallbacks on a CPU that has more.
    const char *limit = getenv("BMQ_INTEGER_UNITS");
    if (limit && strcmp(limit, "avx2") == 0) units &= BMQ_DOT_AVX2;
    else if (limit && strcmp(limit, "portable") == 0) units = 0;
    return units;
}

int bmq_dot_units(void) {
    static int units = -1;
    if (units < 0) units = detect_units();
    return units;
}

static inline size_t patch_index(int row, int column, int columns_padded) {
    return ((size_t)(row >> 2) * (size_t)columns_padded + (size_t)column) * 4 + (size_t)(row & 3);
}

// Four patch rows (one row group) for one output row: each output's four bytes assembled into
// one 32-bit store, reading the rows' inputs from padded byte planes (no border tests).
static inline __attribute__((always_inline))
void pack_patch_words(const uint8_t *const *sources, int out_w, int stride, uint32_t *restrict out) {
    const uint8_t *restrict s0 = sources[0], *restrict s1 = sources[1], *restrict s2 = sources[2], *restrict s3 = sources[3];
    for (int ox = 0; ox < out_w; ox++) {
        const int i = ox * stride;
        out[ox] = (uint32_t)s0[i] | (uint32_t)s1[i] << 8 | (uint32_t)s2[i] << 16 | (uint32_t)s3[i] << 24;
    }
}

// One row group's patches (out_h x out_w words from `out` on): output row oy of the group's row j
// reads from first[j] + oy x row_steps[j], its columns `column_step` bytes apart. The usual steps
// (1 and 2 for byte planes, 4 and 8 for four-byte cells) are compiled apart so the loads vectorise.
static inline __attribute__((always_inline))
void pack_patch_group_rows(const uint8_t *const *first, const size_t *row_steps, int out_h, int out_w, int column_step,
                           uint32_t *out) {
    for (int oy = 0; oy < out_h; oy++) {
        const uint8_t *sources[4];
        for (int j = 0; j < 4; j++) sources[j] = first[j] + (size_t)oy * row_steps[j];
        uint32_t *row = out + (size_t)oy * out_w;
        switch (column_step) {
        case 1: pack_patch_words(sources, out_w, 1, row); break;
        case 2: pack_patch_words(sources, out_w, 2, row); break;
        case 4: pack_patch_words(sources, out_w, 4, row); break;
        case 8: pack_patch_words(sources, out_w, 8, row); break;
        default: pack_patch_words(sources, out_w, column_step, row);
        }
    }
}

// `pack_patch_group_rows` built for the widest vectors the CPU has (on x86-64 defined below,
// after the CPU checks).
#if BMQ_X86
static void pack_patch_group(const uint8_t *const *first, const size_t *row_steps, int out_h, int out_w, int column_step,
                             uint32_t *out);
#else
static void pack_patch_group(const uint8_t *const *first, const size_t *row_steps, int out_h, int out_w, int column_step,
                             uint32_t *out) {
    pack_patch_group_rows(first, row_steps, out_h, out_w, column_step, out);
}
#endif

// The columns past the last position of every row group: the rest the packing writes.
static void zero_patch_padding(uint8_t *patches, int row_groups, int positions, int columns_padded) {
    if (positions >= columns_padded) return;
    for (int g = 0; g < row_groups; g++)
        memset(patches + ((size_t)g * columns_padded + positions) * 4, 0, (size_t)(columns_padded - positions) * 4);
}

void bmq_pack_patches(const int32_t *image, int channels, int height, int width,
                      int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w,
                      int dilation_h, int dilation_w, int out_h, int out_w,
                      int32_t offset, int row_groups, int columns_padded, uint8_t *patches) {
    // Each channel as bytes (value + offset) in a plane padded with the offset, then a row of
    // zeros that rows past the kernel's rows read.
    const int padded_h = height + 2 * pad_h, padded_w = width + 2 * pad_w;
    const size_t plane = (size_t)padded_h * padded_w;
    const size_t zeros = (size_t)out_w * stride_w + 1;
    uint8_t *padded = malloc(plane * channels + zeros);
    if (!padded) abort();
    memset(padded, (uint8_t)offset, plane * channels);
    memset(padded + plane * channels, 0, zeros);
    for (int c = 0; c < channels; c++)
        for (int y = 0; y < height; y++) {
            const int32_t *restrict row = image + ((size_t)c * height + y) * width;
            uint8_t *restrict out = padded + c * plane + (size_t)(y + pad_h) * padded_w + pad_w;
            for (int x = 0; x < width; x++) out[x] = (uint8_t)(row[x] + offset);
        }
    const int rows = channels * kernel_h * kernel_w, cells = kernel_h * kernel_w;
    zero_patch_padding(patches, row_groups, out_h * out_w, columns_padded);
    for (int g = 0; g < row_groups; g++) {
        // Where each of the group's four rows starts reading, for output row 0.
        const uint8_t *first[4];
        size_t row_steps[4];
        for (int j = 0; j < 4; j++) {
            const int r = 4 * g + j;
            if (r < rows) {
                const int c = r / cells, ky = r % cells / kernel_w, kx = r % kernel_w;
                first[j] = padded + c * plane + (size_t)ky * dilation_h * padded_w + (size_t)kx * dilation_w;
                row_steps[j] = (size_t)stride_h * padded_w;
            } else {
                first[j] = padded + plane * channels;
                row_steps[j] = 0;
            }
        }
        pack_patch_group(first, row_steps, out_h, out_w, stride_w, (uint32_t *)(patches + (size_t)g * columns_padded * 4));
    }
    free(padded);
}

void bmq_pack_vectors(const int32_t *vectors, int count, int length, int32_t offset,
                      int row_groups, int columns_padded, uint8_t *patches) {
    memset(patches, 0, (size_t)row_groups * (size_t)columns_padded * 4);
    for (int n = 0; n < count; n++) {
        const int32_t *vector = vectors + (size_t)n * length;
        for (int k = 0; k < length; k++) patches[patch_index(k, n, columns_padded)] = (uint8_t)(vector[k] + offset);
    }
}

#if BMQ_X86
static inline int32_t load_group(const int8_t *weights) {
    int32_t group;
    memcpy(&group, weights, 4);
    return group;
}

#define BMQ_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define BMQ_AVX512_WIDE __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))

// The low (0) or high (1) half of a vector.
static inline __attribute__((always_inline)) BMQ_AVX512_WIDE __m256i avx512_half(__m512i v, int half) {
    return half ? _mm512_extracti64x4_epi64(v, 1) : _mm512_castsi512_si256(v);
}

// Whether 64-bit lanes get AVX-512's vector multiplies (where the units allow AVX-512 at all).
static int wide_vectors(void) {
    static int wide = -1;
    if (wide < 0) wide = (bmq_dot_units() & BMQ_DOT_AVX512_VNNI) && __builtin_cpu_supports("avx512dq");
    return wide;
}
#define BMQ_AVX2 __attribute__((target("avx2")))

BMQ_AVX512_WIDE
static void avx512_pack_patch_group(const uint8_t *const *first, const size_t *row_steps, int out_h, int out_w, int column_step,
                                    uint32_t *out) {
    pack_patch_group_rows(first, row_steps, out_h, out_w, column_step, out);
}

BMQ_AVX2
static void avx2_pack_patch_group(const uint8_t *const *first, const size_t *row_steps, int out_h, int out_w, int column_step,
                                  uint32_t *out) {
    pack_patch_group_rows(first, row_steps, out_h, out_w, column_step, out);
}

static void pack_patch_group(const uint8_t *const *first, const size_t *row_steps, int out_h, int out_w, int column_step,
                             uint32_t *out) {
    if (wide_vectors()) avx512_pack_patch_group(first, row_steps, out_h, out_w, column_step, out);
    else if (bmq_dot_units() & BMQ_DOT_AVX2) avx2_pack_patch_group(first, row_steps, out_h, out_w, column_step, out);
    else pack_patch_group_rows(first, row_steps, out_h, out_w, column_step, out);
}

// A ROWS x (16 x VECTORS) block of sums held in registers over all row groups. Called with
// constant ROWS and VECTORS so the compiler unrolls and keeps the accumulators in registers.
static inline __attribute__((always_inline)) BMQ_VNNI
void vnni_block(const int8_t *weights, int weight_stride, const uint8_t *patches, int row_groups, int columns_padded,
                int32_t *sums, const int ROWS, const int VECTORS) {
    __m512i acc[6][4];
    for (int r = 0; r < ROWS; r++)
        for (int v = 0; v < VECTORS; v++) acc[r][v] = _mm512_setzero_si512();
    for (int g = 0; g < row_groups; g++) {
        const uint8_t *block = patches + (size_t)g * columns_padded * 4;
        __m512i columns[4];
        for (int v = 0; v < VECTORS; v++) columns[v] = _mm512_loadu_si512(block + v * 64);
        for (int r = 0; r < ROWS; r++) {
            __m512i w = _mm512_set1_epi32(load_group(weights + (size_t)r * weight_stride + (size_t)g * 4));
            for (int v = 0; v < VECTORS; v++) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], columns[v], w);
        }
    }
    for (int r = 0; r < ROWS; r++)
        for (int v = 0; v < VECTORS; v++) _mm512_storeu_si512(sums + (size_t)r * columns_padded + v * 16, acc[r][v]);
}

BMQ_VNNI
static void vnni_products(const int8_t *weights, int rows_out, const uint8_t *patches, int row_groups, int columns_padded,
                          int32_t *sums) {
    const int weight_stride = row_groups * 4;
    for (int n = 0; n < columns_padded; n += 64) {
        int vectors = (columns_padded - n) / 16;
        if (vectors > 4) vectors = 4;
        const uint8_t *block = patches + (size_t)n * 4;
        for (int m = 0; m < rows_out; m += 6) {
            int rows = rows_out - m < 6 ? rows_out - m : 6;
            const int8_t *w = weights + (size_t)m * weight_stride;
            int32_t *out = sums + (size_t)m * columns_padded + n;
#define BMQ_VNNI_CASE(R, V) case (R) * 8 + (V): vnni_block(w, weight_stride, block, row_groups, columns_padded, out, R, V); break;
#define BMQ_VNNI_ROWS(R) BMQ_VNNI_CASE(R, 1) BMQ_VNNI_CASE(R, 2) BMQ_VNNI_CASE(R, 3) BMQ_VNNI_CASE(R, 4)
            switch (rows * 8 + vectors) {
                BMQ_VNNI_ROWS(1) BMQ_VNNI_ROWS(2) BMQ_VNNI_ROWS(3) BMQ_VNNI_ROWS(4) BMQ_VNNI_ROWS(5) BMQ_VNNI_ROWS(6)
            }
        }
    }
}

// The AVX2 block: vpmaddubsw multiplies u8 by s8 and adds pairs into 16 bits (saturating, so the
// caller proves every pair fits), vpmaddwd by ones adds the pairs of pairs into 32 bits.
static inline __attribute__((always_inline)) BMQ_AVX2
void avx2_block(const int8_t *weights, int weight_stride, const uint8_t *patches, int row_groups, int columns_padded,
                int32_t *sums, const int ROWS, const int VECTORS) {
    __m256i acc[3][3];
    const __m256i ones = _mm256_set1_epi16(1);
    for (int r = 0; r < ROWS; r++)
        for (int v = 0; v < VECTORS; v++) acc[r][v] = _mm256_setzero_si256();
    for (int g = 0; g < row_groups; g++) {
        const uint8_t *block = patches + (size_t)g * columns_padded * 4;
        __m256i columns[3];
        for (int v = 0; v < VECTORS; v++) columns[v] = _mm256_loadu_si256((const __m256i *)(block + v * 32));
        for (int r = 0; r < ROWS; r++) {
            __m256i w = _mm256_set1_epi32(load_group(weights + (size_t)r * weight_stride + (size_t)g * 4));
            for (int v = 0; v < VECTORS; v++)
                acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(_mm256_maddubs_epi16(columns[v], w), ones));
        }
    }
    for (int r = 0; r < ROWS; r++)
        for (int v = 0; v < VECTORS; v++) _mm256_storeu_si256((__m256i *)(sums + (size_t)r * columns_padded + v * 8), acc[r][v]);
}

BMQ_AVX2
static void avx2_products(const int8_t *weights, int rows_out, const uint8_t *patches, int row_groups, int columns_padded,
                          int32_t *sums) {
    const int weight_stride = row_groups * 4;
    for (int n = 0; n < columns_padded; n += 24) {
        int vectors = (columns_padded - n) / 8;
        if (vectors > 3) vectors = 3;
        const uint8_t *block = patches + (size_t)n * 4;
        for (int m = 0; m < rows_out; m += 3) {
            int rows = rows_out - m < 3 ? rows_out - m : 3;
            const int8_t *w = weights + (size_t)m * weight_stride;
            int32_t *out = sums + (size_t)m * columns_padded + n;
#define BMQ_AVX2_CASE(R, V) case (R) * 8 + (V): avx2_block(w, weight_stride, block, row_groups, columns_padded, out, R, V); break;
#define BMQ_AVX2_ROWS(R) BMQ_AVX2_CASE(R, 1) BMQ_AVX2_CASE(R, 2) BMQ_AVX2_CASE(R, 3)
            switch (rows * 8 + vectors) {
                BMQ_AVX2_ROWS(1) BMQ_AVX2_ROWS(2) BMQ_AVX2_ROWS(3)
            }
        }
    }
}
#endif

void bmq_pack_channels(const int32_t *image, int channels, int height, int width, int pad_h, int pad_w,
                       int32_t offset, uint8_t *packed) {
    const int padded_h = height + 2 * pad_h, padded_w = width + 2 * pad_w, groups = (channels + 3) / 4;
    const size_t cells = (size_t)padded_h * padded_w;
    memset(packed, (uint8_t)offset, (size_t)groups * cells * 4);
    memset(packed + (size_t)groups * cells * 4, 0, BMQ_DOT_PACKED_SLACK);
    // One cell per group (an inner product's outputs): the bytes are the values in order.
    if (cells == 1) {
        for (int c = 0; c < channels; c++) packed[c] = (uint8_t)(image[c] + offset);
        return;
    }
    for (int c = 0; c < channels; c++) {
        const int32_t *plane = image + (size_t)c * height * width;
        uint8_t *group = packed + (size_t)(c / 4) * cells * 4 + c % 4;
        for (int y = 0; y < height; y++) {
            const int32_t *row = plane + (size_t)y * width;
            uint8_t *out = group + ((size_t)(y + pad_h) * padded_w + pad_w) * 4;
            for (int x = 0; x < width; x++) out[(size_t)x * 4] = (uint8_t)(row[x] + offset);
        }
    }
}

#if BMQ_X86
// ROWS channels x VECTORS vectors of outputs over every (group, ky, kx): the vectors are
// `load_stride` bytes apart in the input and `store_stride` sums apart in the output (one output
// row's consecutive columns, or for narrow rows the same columns of consecutive rows). One body
// for each unit's vector type and its byte dot product.
#define BMQ_DIRECT_BLOCK(NAME, TARGET, VECTOR, ZERO, LOAD, BROADCAST, ACCUMULATE, STORE)                                \
    static inline __attribute__((always_inline)) TARGET void NAME(                                                     \
        const int8_t *weights, int weight_stride, const uint8_t *packed, int groups, int padded_h, int padded_w,       \
        int kernel_h, int kernel_w, int32_t *sums, int sum_stride, int load_stride, int store_stride, const int ROWS,  \
        const int VECTORS) {                                                                                           \
        VECTOR acc[6][4];                                                                                              \
        for (int r = 0; r < ROWS; r++)                                                                                 \
            for (int v = 0; v < VECTORS; v++) acc[r][v] = ZERO();                                                      \
        const int8_t *w = weights;                                                                                     \
        for (int g = 0; g < groups; g++) {                                                                             \
            for (int ky = 0; ky < kernel_h; ky++) {                                                                    \
                const uint8_t *row = packed + ((size_t)g * padded_h + ky) * padded_w * 4;                              \
                for (int kx = 0; kx < kernel_w; kx++, w += 4) {                                                        \
                    VECTOR columns[4];                                                                                 \
                    for (int v = 0; v < VECTORS; v++)                                                                  \
                        columns[v] = LOAD((const void *)(row + (size_t)kx * 4 + (size_t)v * load_stride));             \
                    for (int r = 0; r < ROWS; r++) {                                                                   \
                        const VECTOR weight = BROADCAST(load_group(w + (size_t)r * weight_stride));                    \
                        for (int v = 0; v < VECTORS; v++) acc[r][v] = ACCUMULATE(acc[r][v], columns[v], weight);       \
                    }                                                                                                  \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
        for (int r = 0; r < ROWS; r++)                                                                                 \
            for (int v = 0; v < VECTORS; v++) STORE((void *)(sums + (size_t)r * sum_stride + (size_t)v * store_stride), acc[r][v]); \
    }

#define BMQ_LOAD256(p) _mm256_loadu_si256((const __m256i *)(p))
#define BMQ_STORE256(p, x) _mm256_storeu_si256((__m256i *)(p), x)
// vpmaddubsw adds pairs of products into 16 bits (saturating: the caller proves every pair fits),
// vpmaddwd by ones the pairs of pairs into 32.
#define BMQ_AVX2_DOT(acc, x, w) _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), _mm256_set1_epi16(1)))

BMQ_DIRECT_BLOCK(vnni_direct_block, BMQ_VNNI, __m512i, _mm512_setzero_si512, _mm512_loadu_si512, _mm512_set1_epi32,
                 _mm512_dpbusd_epi32, _mm512_storeu_si512)
// Rows no wider than eight: a 512-bit vector holds two consecutive output rows, eight lanes each
// (the loads and stores are `padded_w` cells and `store_stride / 2` sums apart); an odd last row
// takes a 256-bit vector.
#define BMQ_LOAD_ROW_PAIR(p)                                                                                           \
    _mm512_inserti64x4(_mm512_castsi256_si512(BMQ_LOAD256(p)), BMQ_LOAD256((const uint8_t *)(p) + (size_t)padded_w * 4), 1)
#define BMQ_STORE_ROW_PAIR(p, x)                                                                                       \
    (BMQ_STORE256(p, _mm512_castsi512_si256(x)), BMQ_STORE256((int32_t *)(p) + store_stride / 2, _mm512_extracti64x4_epi64(x, 1)))
BMQ_DIRECT_BLOCK(vnni_paired_direct_block, BMQ_VNNI, __m512i, _mm512_setzero_si512, BMQ_LOAD_ROW_PAIR, _mm512_set1_epi32,
                 _mm512_dpbusd_epi32, BMQ_STORE_ROW_PAIR)
BMQ_DIRECT_BLOCK(vnni_half_direct_block, BMQ_VNNI, __m256i, _mm256_setzero_si256, BMQ_LOAD256, _mm256_set1_epi32,
                 _mm256_dpbusd_epi32, BMQ_STORE256)
BMQ_DIRECT_BLOCK(avx2_direct_block, BMQ_AVX2, __m256i, _mm256_setzero_si256, BMQ_LOAD256, _mm256_set1_epi32, BMQ_AVX2_DOT,
                 BMQ_STORE256)

// Rows no wider than a vector (NARROW) take their vectors from consecutive output rows, each vector
// holding ROWS_PER_VECTOR of them, so that a weight broadcast still feeds up to four vectors; wider
// rows take consecutive columns. Output rows FIRST_ROW..<END_ROW; a narrow range is a whole number
// of vectors.
#define BMQ_DIRECT_LOOP(BLOCK, LANES, ROWS_FOR, NARROW, FIRST_ROW, END_ROW, ROWS_PER_VECTOR)                           \
    {                                                                                                                  \
    const int narrow = NARROW, end_row = END_ROW;                                                                      \
    const int load_stride = narrow ? (ROWS_PER_VECTOR) * padded_w * 4 : LANES * 4;                                     \
    const int store_stride = narrow ? (ROWS_PER_VECTOR) * out_w_padded : LANES;                                        \
    for (int oy = FIRST_ROW; oy < end_row; oy += narrow ? 4 * (ROWS_PER_VECTOR) : 1) {                                  \
        for (int ox = 0; ox < out_w; ox += 4 * LANES) {                                                                \
            int vectors = narrow ? (end_row - oy) / (ROWS_PER_VECTOR) : (out_w - ox + LANES - 1) / LANES;              \
            if (vectors > 4) vectors = 4;                                                                              \
            const int most = ROWS_FOR(vectors);                                                                        \
            const uint8_t *origin = packed + ((size_t)oy * padded_w + ox) * 4;                                         \
            for (int m = 0; m < rows_out; m += most) {                                                                 \
                int rows = rows_out - m < most ? rows_out - m : most;                                                  \
                const int8_t *w = weights + (size_t)m * weight_stride;                                                 \
                int32_t *out = sums + ((size_t)m * out_h + oy) * out_w_padded + ox;                                    \
                switch (rows * 8 + vectors) {                                                                          \
                    BMQ_DIRECT_ROWS(BLOCK, 1) BMQ_DIRECT_ROWS(BLOCK, 2) BMQ_DIRECT_ROWS(BLOCK, 3)                      \
                    BMQ_DIRECT_ROWS(BLOCK, 4) BMQ_DIRECT_ROWS(BLOCK, 5) BMQ_DIRECT_ROWS(BLOCK, 6)                      \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    }                                                                                                                  \
    }
#define BMQ_DIRECT_CASE(BLOCK, R, V)                                                                                   \
    case (R) * 8 + (V):                                                                                                \
        BLOCK(w, weight_stride, origin, groups, padded_h, padded_w, kernel_h, kernel_w, out, sum_stride, load_stride,  \
              store_stride, R, V);                                                                                     \
        break;
#define BMQ_DIRECT_ROWS(BLOCK, R) BMQ_DIRECT_CASE(BLOCK, R, 1) BMQ_DIRECT_CASE(BLOCK, R, 2) \
    BMQ_DIRECT_CASE(BLOCK, R, 3) BMQ_DIRECT_CASE(BLOCK, R, 4)

// Output channels per block for a number of column vectors: the accumulators, the column loads
// and the broadcast weight fit the register file (32 zmm; 16 ymm with vpmaddubsw's temporaries).
#define BMQ_VNNI_ROWS_FOR(V) ((V) == 4 ? 5 : 6)
#define BMQ_AVX2_ROWS_FOR(V) ((V) == 4 ? 2 : (V) == 3 ? 3 : (V) == 2 ? 4 : 6)

BMQ_VNNI
static void vnni_direct(const int8_t *weights, int rows_out, const uint8_t *packed, int groups, int padded_h, int padded_w,
                        int kernel_h, int kernel_w, int out_h, int out_w, int32_t *sums, int out_w_padded) {
    const int weight_stride = groups * kernel_h * kernel_w * 4, sum_stride = out_h * out_w_padded;
    if (out_w <= 8) {
        const int paired_rows = out_h & ~1;
        BMQ_DIRECT_LOOP(vnni_paired_direct_block, 8, BMQ_VNNI_ROWS_FOR, 1, 0, paired_rows, 2)
        BMQ_DIRECT_LOOP(vnni_half_direct_block, 8, BMQ_VNNI_ROWS_FOR, 1, paired_rows, out_h, 1)
    } else {
        BMQ_DIRECT_LOOP(vnni_direct_block, 16, BMQ_VNNI_ROWS_FOR, out_w <= 16, 0, out_h, 1)
    }
}

BMQ_AVX2
static void avx2_direct(const int8_t *weights, int rows_out, const uint8_t *packed, int groups, int padded_h, int padded_w,
                        int kernel_h, int kernel_w, int out_h, int out_w, int32_t *sums, int out_w_padded) {
    const int weight_stride = groups * kernel_h * kernel_w * 4, sum_stride = out_h * out_w_padded;
    BMQ_DIRECT_LOOP(avx2_direct_block, 8, BMQ_AVX2_ROWS_FOR, out_w <= 8, 0, out_h, 1)
}
#endif

int bmq_direct_products(int unit, const int8_t *weights, int rows_out, const uint8_t *packed, int groups,
                        int padded_h, int padded_w, int kernel_h, int kernel_w, int out_h, int out_w,
                        int32_t *sums, int out_w_padded) {
    if ((bmq_dot_units() & unit) == 0 || out_w_padded % BMQ_DOT_COLUMN_ALIGNMENT != 0) return -1;
#if BMQ_X86
    if (unit == BMQ_DOT_AVX512_VNNI) {
        vnni_direct(weights, rows_out, packed, groups, padded_h, padded_w, kernel_h, kernel_w, out_h, out_w, sums, out_w_padded);
        return 0;
    }
    if (unit == BMQ_DOT_AVX2) {
        avx2_direct(weights, rows_out, packed, groups, padded_h, padded_w, kernel_h, kernel_w, out_h, out_w, sums, out_w_padded);
        return 0;
    }
#endif
    return -1;
}

#if BMQ_X86
// Eight channels' biases from channel c on, zero past `channels`.
static inline __attribute__((always_inline)) BMQ_AVX2 __m256i avx2_bias_vector(const int32_t *bias, int channels, int c) {
    int32_t lanes[8];
    for (int j = 0; j < 8; j++) lanes[j] = c + j < channels ? bias[c + j] : 0;
    return _mm256_loadu_si256((const __m256i *)lanes);
}

// An inner product's block: ROWS images x VECTORS vectors of output channels (at most MOST_ROWS x
// MOST_VECTORS, the size of the case table), held in registers
// over all of an image's cells. Each image cell's four bytes are broadcast (the unsigned operand)
// against the channels' weight vectors (the signed one). One body for each unit's vector type and
// its byte dot product; the accumulators start from the channels' biases.
#define BMQ_IMAGE_BLOCK(NAME, TARGET, VECTOR, LANES, LOAD, BROADCAST, ACCUMULATE, STORE, MOST_ROWS, MOST_VECTORS)       \
    static inline __attribute__((always_inline)) TARGET void NAME(                                                     \
        const uint8_t *images, size_t image_bytes, const int8_t *weights, int row_groups, int channels_padded,         \
        const VECTOR *biases, int32_t *sums, const int ROWS, const int VECTORS) {                                      \
        VECTOR acc[MOST_ROWS][MOST_VECTORS];                                                                           \
        for (int r = 0; r < ROWS; r++)                                                                                 \
            for (int v = 0; v < VECTORS; v++) acc[r][v] = biases[v];                                                   \
        for (int g = 0; g < row_groups; g++) {                                                                         \
            const int8_t *block = weights + (size_t)g * channels_padded * 4;                                           \
            VECTOR columns[MOST_VECTORS];                                                                              \
            for (int v = 0; v < VECTORS; v++) columns[v] = LOAD((const void *)(block + (size_t)v * LANES * 4));         \
            for (int r = 0; r < ROWS; r++) {                                                                           \
                const VECTOR x = BROADCAST(load_group((const int8_t *)images + (size_t)r * image_bytes + (size_t)g * 4)); \
                for (int v = 0; v < VECTORS; v++) acc[r][v] = ACCUMULATE(acc[r][v], x, columns[v]);                    \
            }                                                                                                          \
        }                                                                                                              \
        for (int r = 0; r < ROWS; r++)                                                                                 \
            for (int v = 0; v < VECTORS; v++) STORE((void *)(sums + (size_t)r * channels_padded + (size_t)v * LANES), acc[r][v]); \
    }

BMQ_IMAGE_BLOCK(vnni_image_block, BMQ_VNNI, __m512i, 16, _mm512_loadu_si512, _mm512_set1_epi32, _mm512_dpbusd_epi32,
                _mm512_storeu_si512, 6, 4)
BMQ_IMAGE_BLOCK(avx2_image_block, BMQ_AVX2, __m256i, 8, BMQ_LOAD256, _mm256_set1_epi32, BMQ_AVX2_DOT, BMQ_STORE256, 6, 4)

// Blocks of up to MOST_VECTORS vectors of channels (their biases loaded once) by MOST_ROWS images.
#define BMQ_IMAGE_LOOP(BLOCK, VECTOR, LANES, BIAS_LOAD, MOST_ROWS, MOST_VECTORS)                                       \
    const int row_groups = (int)(image_bytes / 4);                                                                     \
    for (int n = 0; n < channels_padded; n += MOST_VECTORS * LANES) {                                                  \
        int vectors = (channels_padded - n) / LANES;                                                                   \
        if (vectors > MOST_VECTORS) vectors = MOST_VECTORS;                                                            \
        VECTOR biases[MOST_VECTORS];                                                                                   \
        for (int v = 0; v < vectors; v++) biases[v] = BIAS_LOAD(n + v * LANES);                                        \
        for (int i = 0; i < count; i += MOST_ROWS) {                                                                   \
            const int rows = count - i < MOST_ROWS ? count - i : MOST_ROWS;                                            \
            const uint8_t *x = images + (size_t)i * image_bytes;                                                       \
            const int8_t *w = weights + (size_t)n * 4;                                                                 \
            int32_t *out = sums + (size_t)i * channels_padded + n;                                                     \
            switch (rows * 8 + vectors) {                                                                              \
                BMQ_IMAGE_ROWS(BLOCK, 1) BMQ_IMAGE_ROWS(BLOCK, 2) BMQ_IMAGE_ROWS(BLOCK, 3)                             \
                BMQ_IMAGE_ROWS(BLOCK, 4) BMQ_IMAGE_ROWS(BLOCK, 5) BMQ_IMAGE_ROWS(BLOCK, 6)                             \
            }                                                                                                          \
        }                                                                                                              \
    }
#define BMQ_IMAGE_CASE(BLOCK, R, V)                                                                                    \
    case (R) * 8 + (V): BLOCK(x, image_bytes, w, row_groups, channels_padded, biases, out, R, V); break;
#define BMQ_IMAGE_ROWS(BLOCK, R) BMQ_IMAGE_CASE(BLOCK, R, 1) BMQ_IMAGE_CASE(BLOCK, R, 2) \
    BMQ_IMAGE_CASE(BLOCK, R, 3) BMQ_IMAGE_CASE(BLOCK, R, 4)

BMQ_VNNI
static void vnni_image_products(const uint8_t *images, int count, size_t image_bytes, const int8_t *weights, int channels,
                                int channels_padded, const int32_t *bias, int32_t *sums) {
#define BMQ_VNNI_BIAS(c) _mm512_maskz_loadu_epi32(channels - (c) >= 16 ? (__mmask16)0xFFFF \
    : channels - (c) <= 0 ? (__mmask16)0 : (__mmask16)((1u << (channels - (c))) - 1), bias + (c))
    BMQ_IMAGE_LOOP(vnni_image_block, __m512i, 16, BMQ_VNNI_BIAS, 6, 4)
}

BMQ_AVX2
static void avx2_image_products(const uint8_t *images, int count, size_t image_bytes, const int8_t *weights, int channels,
                                int channels_padded, const int32_t *bias, int32_t *sums) {
#define BMQ_AVX2_BIAS(c) avx2_bias_vector(bias, channels, c)
    BMQ_IMAGE_LOOP(avx2_image_block, __m256i, 8, BMQ_AVX2_BIAS, 3, 3)
}
#endif

int bmq_image_products(int unit, const uint8_t *images, int count, size_t image_bytes, const int8_t *weights, int channels,
                       int channels_padded, const int32_t *bias, int32_t *sums) {
    if ((bmq_dot_units() & unit) == 0 || channels_padded % BMQ_DOT_COLUMN_ALIGNMENT != 0 || image_bytes % 4 != 0) return -1;
#if BMQ_X86
    if (unit == BMQ_DOT_AVX512_VNNI) {
        vnni_image_products(images, count, image_bytes, weights, channels, channels_padded, bias, sums);
        return 0;
    }
    if (unit == BMQ_DOT_AVX2) {
        avx2_image_products(images, count, image_bytes, weights, channels, channels_padded, bias, sums);
        return 0;
    }
#endif
    return -1;
}

int bmq_dot_products(int unit, const int8_t *weights, int rows_out, const uint8_t *patches,
                     int row_groups, int columns_padded, int32_t *sums) {
    if ((bmq_dot_units() & unit) == 0 || columns_padded % BMQ_DOT_COLUMN_ALIGNMENT != 0) return -1;
#if BMQ_X86
    if (unit == BMQ_DOT_AVX512_VNNI) { vnni_products(weights, rows_out, patches, row_groups, columns_padded, sums); return 0; }
    if (unit == BMQ_DOT_AVX2) { avx2_products(weights, rows_out, patches, row_groups, columns_padded, sums); return 0; }
#endif
    return -1;
}

// rshift_round in 32 bits without overflow: floor(acc / 2^shift) plus the bit below the cut,
// which is floor((acc + 2^(shift-1)) / 2^shift) for any acc.
static inline __attribute__((always_inline))
void requantize_row(const int32_t *sums, int columns, uint32_t bias, int shift, int32_t low, int32_t high,
                    int32_t counts_below, int32_t *out, const ptrdiff_t column_stride, int32_t *largest, int32_t *saturated) {
    int32_t row_largest = *largest, row_saturated = 0;
    // A shift of 0 keeps the accumulator: no bit below the cut.
    const int below = shift > 0 ? shift - 1 : 0;
    const int32_t round_bit = shift > 0 ? 1 : 0;
    for (int n = 0; n < columns; n++) {
        // The true accumulator fits 32 bits (and is not -2^31); the wrapping add recovers it
        // from the offset sum.
        int32_t acc = (int32_t)((uint32_t)sums[n] + bias);
        int32_t magnitude = acc < 0 ? -acc : acc;
        row_largest = magnitude > row_largest ? magnitude : row_largest;
        int32_t shifted = (acc >> shift) + ((acc >> below) & round_bit);
        int32_t clamped = shifted < low ? low : shifted > high ? high : shifted;
        row_saturated += clamped != shifted && shifted >= counts_below;
        out[n * column_stride] = clamped;
    }
    *largest = row_largest;
    *saturated += row_saturated;
}

static inline __attribute__((always_inline))
void requantize_rows(const int32_t *sums, int rows, int columns, int sum_stride, const int32_t *bias, int rows_per_bias,
                     int shift, int32_t low, int32_t high, int signed_output, int32_t *y, ptrdiff_t row_stride,
                     ptrdiff_t column_stride, bmq_requantize_statistics *statistics) {
    // A fused ReLU's zeros (unsigned output, negative value) are not saturation.
    const int32_t counts_below = signed_output ? INT32_MIN : 1;
    int32_t largest = 0;
    int64_t saturated = 0;
    for (int m = 0; m < rows; m++) {
        int32_t row_saturated = 0;
        const int32_t *row = sums + (size_t)m * sum_stride;
        const uint32_t b = (uint32_t)bias[m / rows_per_bias];
        // Contiguous rows get their own copy of the loop, which the compiler vectorises.
        if (column_stride == 1) requantize_row(row, columns, b, shift, low, high, counts_below, y + m * row_stride, 1, &largest, &row_saturated);
        else requantize_row(row, columns, b, shift, low, high, counts_below, y + m * row_stride, column_stride, &largest, &row_saturated);
        saturated += row_saturated;
    }
    if (largest > statistics->largest) statistics->largest = largest;
    statistics->saturated += saturated;
}

#if BMQ_X86
BMQ_AVX2
static void avx2_requantize(const int32_t *sums, int rows, int columns, int sum_stride, const int32_t *bias, int rows_per_bias,
                            int shift, int32_t low, int32_t high, int signed_output, int32_t *y, ptrdiff_t row_stride,
                            ptrdiff_t column_stride, bmq_requantize_statistics *statistics) {
    requantize_rows(sums, rows, columns, sum_stride, bias, rows_per_bias, shift, low, high, signed_output, y, row_stride, column_stride,
                    statistics);
}
#endif

void bmq_requantize(const int32_t *sums, int rows, int columns, int sum_stride, const int32_t *bias, int rows_per_bias,
                    int shift, int32_t low, int32_t high, int signed_output,
                    int32_t *y, ptrdiff_t row_stride, ptrdiff_t column_stride,
                    bmq_requantize_statistics *statistics) {
#if BMQ_X86
    if (bmq_dot_units() & BMQ_DOT_AVX2) {
        avx2_requantize(sums, rows, columns, sum_stride, bias, rows_per_bias, shift, low, high, signed_output, y, row_stride,
                        column_stride, statistics);
        return;
    }
#endif
    requantize_rows(sums, rows, columns, sum_stride, bias, rows_per_bias, shift, low, high, signed_output, y, row_stride, column_stride,
                    statistics);
}

// Separable: each output row first reduces its window's rows column by column (one contiguous
// pass per window row), then each output whose window lies inside the row reduces its columns
// (one pass per window column, with a constant stride for the usual 1 and 2 so the loads
// vectorise); outputs at a border reduce the columns the border leaves. AVE divides by
// multiplying with the reciprocal, in 32 bits where `largest` proves it cannot overflow.
#define BMQ_SHORT_LOOP _Pragma("clang loop vectorize(enable) interleave_count(1)")

typedef struct {
    int height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w;
    // Outputs first..<end of a row read a whole window.
    int first, end;
} pool_shape;

static inline __attribute__((always_inline))
void window_columns(const int32_t *restrict columns, int32_t *restrict out, int first, int end, int stride, int offset,
                    int kernel_w, int is_max) {
    BMQ_SHORT_LOOP for (int ox = first; ox < end; ox++) out[ox] = columns[ox * stride + offset];
    for (int kx = 1; kx < kernel_w; kx++) {
        if (is_max) {
            BMQ_SHORT_LOOP for (int ox = first; ox < end; ox++) {
                const int32_t v = columns[ox * stride + offset + kx];
                out[ox] = v > out[ox] ? v : out[ox];
            }
        } else {
            BMQ_SHORT_LOOP for (int ox = first; ox < end; ox++) out[ox] += columns[ox * stride + offset + kx];
        }
    }
}

// Sets the outputs first..<end of a row whose window lies inside it: ox * stride_w - pad_w must
// lie in 0 ... width - kernel_w.
static void pool_interior(pool_shape *s) {
    const int last_start = s->width - s->kernel_w;
    s->first = (s->pad_w + s->stride_w - 1) / s->stride_w;
    s->end = last_start + s->pad_w < 0 ? 0 : (last_start + s->pad_w) / s->stride_w + 1;
    if (s->end > s->out_w) s->end = s->out_w;
    if (s->first > s->end) s->first = s->end;
}

// An output at a border: the columns its window keeps inside the row.
static inline __attribute__((always_inline))
int32_t clipped_window(const int32_t *columns, const pool_shape *s, int ox, int is_max) {
    const int x0 = ox * s->stride_w - s->pad_w;
    const int left = x0 > 0 ? x0 : 0, right = x0 + s->kernel_w < s->width ? x0 + s->kernel_w : s->width;
    int32_t value = columns[left];
    for (int ix = left + 1; ix < right; ix++) value = is_max ? (columns[ix] > value ? columns[ix] : value) : value + columns[ix];
    return value;
}

// One plane with 32-bit columns: MAX, or AVE when `reciprocals` is given.
static inline __attribute__((always_inline))
void pool_plane(const int32_t *restrict input, const pool_shape *s, const int32_t *restrict reciprocals, int32_t *restrict output,
                int32_t *restrict columns) {
    const int is_max = reciprocals == NULL, width = s->width;
    for (int oy = 0; oy < s->out_h; oy++) {
        const int y0 = oy * s->stride_h - s->pad_h;
        const int top = y0 > 0 ? y0 : 0, bottom = y0 + s->kernel_h < s->height ? y0 + s->kernel_h : s->height;
        BMQ_SHORT_LOOP for (int ix = 0; ix < width; ix++) columns[ix] = input[(size_t)top * width + ix];
        for (int iy = top + 1; iy < bottom; iy++) {
            const int32_t *restrict row = input + (size_t)iy * width;
            if (is_max) {
                BMQ_SHORT_LOOP for (int ix = 0; ix < width; ix++) columns[ix] = row[ix] > columns[ix] ? row[ix] : columns[ix];
            } else {
                BMQ_SHORT_LOOP for (int ix = 0; ix < width; ix++) columns[ix] += row[ix];
            }
        }
        int32_t *restrict out = output + (size_t)oy * s->out_w;
        if (s->stride_w == 1) window_columns(columns, out, s->first, s->end, 1, -s->pad_w, s->kernel_w, is_max);
        else if (s->stride_w == 2) window_columns(columns, out, s->first, s->end, 2, -s->pad_w, s->kernel_w, is_max);
        else window_columns(columns, out, s->first, s->end, s->stride_w, -s->pad_w, s->kernel_w, is_max);
        for (int ox = 0; ox < s->first; ox++) out[ox] = clipped_window(columns, s, ox, is_max);
        for (int ox = s->end; ox < s->out_w; ox++) out[ox] = clipped_window(columns, s, ox, is_max);
        if (!is_max) {
            const int32_t *restrict r = reciprocals + (size_t)oy * s->out_w;
            BMQ_SHORT_LOOP for (int ox = 0; ox < s->out_w; ox++) out[ox] = (out[ox] * r[ox] + 32768) >> 16;
        }
    }
}

// AVE in 64 bits, for activations too wide for `pool_plane`'s 32-bit products.
static void average_plane_wide(const int32_t *input, const pool_shape *s, const int32_t *reciprocals, int32_t *output,
                               int64_t *columns) {
    for (int oy = 0; oy < s->out_h; oy++) {
        const int y0 = oy * s->stride_h - s->pad_h;
        const int top = y0 > 0 ? y0 : 0, bottom = y0 + s->kernel_h < s->height ? y0 + s->kernel_h : s->height;
        for (int ix = 0; ix < s->width; ix++) {
            int64_t sum = 0;
            for (int iy = top; iy < bottom; iy++) sum += input[(size_t)iy * s->width + ix];
            columns[ix] = sum;
        }
        for (int ox = 0; ox < s->out_w; ox++) {
            const int x0 = ox * s->stride_w - s->pad_w;
            const int left = x0 > 0 ? x0 : 0, right = x0 + s->kernel_w < s->width ? x0 + s->kernel_w : s->width;
            int64_t sum = 0;
            for (int ix = left; ix < right; ix++) sum += columns[ix];
            output[oy * s->out_w + ox] = (int32_t)((sum * reciprocals[oy * s->out_w + ox] + 32768) >> 16);
        }
    }
}

static inline __attribute__((always_inline))
void pool_planes(const int32_t *x, int planes, const pool_shape *s, const int32_t *reciprocals, int narrow, int32_t *y,
                 int64_t *scratch) {
    for (int plane = 0; plane < planes; plane++) {
        const int32_t *input = x + (size_t)plane * s->height * s->width;
        int32_t *output = y + (size_t)plane * s->out_h * s->out_w;
        if (narrow || !reciprocals) pool_plane(input, s, reciprocals, output, (int32_t *)scratch);
        else average_plane_wide(input, s, reciprocals, output, scratch);
    }
}

#if BMQ_X86
BMQ_AVX2
static void avx2_pool(const int32_t *x, int planes, const pool_shape *s, const int32_t *reciprocals, int narrow, int32_t *y,
                      int64_t *scratch) {
    pool_planes(x, planes, s, reciprocals, narrow, y, scratch);
}
#endif

void bmq_pool(const int32_t *x, int planes, int height, int width, int kernel_h, int kernel_w, int stride_h, int stride_w,
              int pad_h, int pad_w, int out_h, int out_w, const int32_t *reciprocals, int64_t largest, int32_t *y,
              int64_t *columns) {
    pool_shape s = {height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w, 0, 0};
    pool_interior(&s);
    // |sum x reciprocal| <= largest x (2^16 + window), the reciprocal being at most 2^16 / divisor + 1/2.
    const int narrow = largest >= 0 && largest < ((int64_t)1 << 31) / ((int64_t)65536 + (int64_t)kernel_h * kernel_w + 1);
#if BMQ_X86
    if (bmq_dot_units() & BMQ_DOT_AVX2) {
        avx2_pool(x, planes, &s, reciprocals, narrow, y, columns);
        return;
    }
#endif
    pool_planes(x, planes, &s, reciprocals, narrow, y, columns);
}

// rshift_round (`formats/datapath/SPEC.md`) for shift >= 1: floor(x / 2^shift) plus the bit below the cut.
static inline __attribute__((always_inline))
int64_t rshift_round64(int64_t x, int shift) { return (x >> shift) + ((x >> (shift - 1)) & 1); }

// Each input is added in its own pass (contiguous, so vectorised), into 64-bit totals.
static inline __attribute__((always_inline))
void sum_inputs(const int32_t *const *inputs, const int *shifts, int input_count, size_t count, int32_t low, int32_t high,
                int signed_output, int32_t *y, bmq_requantize_statistics *statistics, int64_t *totals) {
    for (int j = 0; j < input_count; j++) {
        const int32_t *restrict x = inputs[j];
        const int shift = shifts[j];
        if (shift > 0) {
            if (j == 0) for (size_t i = 0; i < count; i++) totals[i] = rshift_round64(x[i], shift);
            else for (size_t i = 0; i < count; i++) totals[i] += rshift_round64(x[i], shift);
        } else {
            const int left = -shift;
            if (j == 0) for (size_t i = 0; i < count; i++) totals[i] = (int64_t)x[i] * ((int64_t)1 << left);
            else for (size_t i = 0; i < count; i++) totals[i] += (int64_t)x[i] * ((int64_t)1 << left);
        }
    }
    const int64_t counts_below = signed_output ? INT64_MIN : 1;
    int64_t largest = statistics->largest, saturated = 0;
    for (size_t i = 0; i < count; i++) {
        const int64_t total = totals[i], magnitude = total < 0 ? -total : total;
        largest = magnitude > largest ? magnitude : largest;
        const int64_t clamped = total < low ? low : total > high ? high : total;
        saturated += clamped != total && total >= counts_below;
        y[i] = (int32_t)clamped;
    }
    statistics->largest = largest;
    statistics->saturated += saturated;
}

#if BMQ_X86
BMQ_AVX2
static void avx2_sum(const int32_t *const *inputs, const int *shifts, int input_count, size_t count, int32_t low, int32_t high,
                     int signed_output, int32_t *y, bmq_requantize_statistics *statistics, int64_t *totals) {
    sum_inputs(inputs, shifts, input_count, count, low, high, signed_output, y, statistics, totals);
}
#endif

#if BMQ_X86
BMQ_AVX512_WIDE
static void avx512_sum(const int32_t *const *inputs, const int *shifts, int input_count, size_t count, int32_t low, int32_t high,
                       int signed_output, int32_t *y, bmq_requantize_statistics *statistics, int64_t *totals) {
    sum_inputs(inputs, shifts, input_count, count, low, high, signed_output, y, statistics, totals);
}
#endif

void bmq_sum(const int32_t *const *inputs, const int *shifts, int input_count, size_t count, int32_t low, int32_t high,
             int signed_output, int32_t *y, bmq_requantize_statistics *statistics) {
    // Totals in blocks that stay in the first-level cache.
    enum { block = 2048 };
    int64_t totals[block];
    const int32_t *shifted[8];
    for (size_t start = 0; start < count; start += block) {
        const size_t n = count - start < block ? count - start : block;
        for (int j = 0; j < input_count; j++) shifted[j] = inputs[j] + start;
#if BMQ_X86
        if (wide_vectors()) {
            avx512_sum(shifted, shifts, input_count, n, low, high, signed_output, y + start, statistics, totals);
            continue;
        }
        if (bmq_dot_units() & BMQ_DOT_AVX2) {
            avx2_sum(shifted, shifts, input_count, n, low, high, signed_output, y + start, statistics, totals);
            continue;
        }
#endif
        sum_inputs(shifted, shifts, input_count, n, low, high, signed_output, y + start, statistics, totals);
    }
}

// x * scale is exact (a power of two); truncation and the remainder's test round half away
// from zero without leaving float32, and the comparisons send NaN to `low`.
static inline __attribute__((always_inline))
size_t quantize_values(const float *restrict x, size_t count, float scale, int32_t low, int32_t high, int32_t *restrict y) {
    const float lowest = (float)low, highest = (float)high;
    size_t clamped = 0;
    for (size_t i = 0; i < count; i++) {
        const float scaled = x[i] * scale, whole = __builtin_truncf(scaled), rest = scaled - whole;
        const float rounded = whole + (float)(rest >= 0.5f) - (float)(rest <= -0.5f);
        const int above = rounded > highest, below = !(rounded >= lowest);
        clamped += (size_t)(above | below);
        y[i] = above ? high : below ? low : (int32_t)rounded;
    }
    return clamped;
}

#if BMQ_X86
BMQ_AVX2
static size_t avx2_quantize(const float *x, size_t count, float scale, int32_t low, int32_t high, int32_t *y) {
    return quantize_values(x, count, scale, low, high, y);
}

BMQ_AVX512_WIDE
static size_t avx512_quantize(const float *x, size_t count, float scale, int32_t low, int32_t high, int32_t *y) {
    return quantize_values(x, count, scale, low, high, y);
}
#endif

size_t bmq_quantize(const float *x, size_t count, float scale, int32_t low, int32_t high, int32_t *y) {
#if BMQ_X86
    if (wide_vectors()) return avx512_quantize(x, count, scale, low, high, y);
    if (bmq_dot_units() & BMQ_DOT_AVX2) return avx2_quantize(x, count, scale, low, high, y);
#endif
    return quantize_values(x, count, scale, low, high, y);
}

// out[i] = the sum over slabs first...last of slabs[slab x length + i]: a window of planes or rows.
static inline __attribute__((always_inline))
void add_slabs(const int64_t *restrict slabs, int first, int last, size_t length, int64_t *restrict out) {
    for (size_t i = 0; i < length; i++) out[i] = slabs[(size_t)first * length + i];
    for (int slab = first + 1; slab <= last; slab++)
        for (size_t i = 0; i < length; i++) out[i] += slabs[(size_t)slab * length + i];
}

// One LRN value before saturation: v times the factor interpolated in the table at its window's
// sum of squares S (entries S >> table_shift and the next), shifted right by value_shift with rounding.
static inline __attribute__((always_inline))
int64_t lrn_scaled(int64_t squares, int64_t v, const int32_t *table, int table_shift, int value_shift) {
    const int64_t entry = squares >> table_shift, remainder = squares - (entry << table_shift);
    const int64_t below = table[entry], above = table[entry + 1];
    return rshift_round64(v * ((below << table_shift) + (above - below) * remainder), value_shift);
}

// The window's sums of squares first (per plane for a channel window, separable rows then columns
// for a spatial one, each pass contiguous), then each value's factor from the table.
static inline __attribute__((always_inline))
void normalize_image(const int32_t *restrict x, int channels, int height, int width, int across_channels, int local_size,
                     const int32_t *restrict table, int table_shift, int value_shift, int32_t low, int32_t high,
                     int32_t *restrict y, bmq_requantize_statistics *statistics, int64_t *restrict squares,
                     int64_t *restrict sums) {
    const size_t plane = (size_t)height * width, count = plane * channels;
    const int half = (local_size - 1) / 2;
    for (size_t i = 0; i < count; i++) squares[i] = (int64_t)x[i] * x[i];
    if (across_channels) {
        for (int c = 0; c < channels; c++)
            add_slabs(squares, c - half > 0 ? c - half : 0, c + half < channels - 1 ? c + half : channels - 1, plane, sums + c * plane);
    } else {
        // Column totals of each row's window of rows; the horizontal pass below adds them across.
        for (int c = 0; c < channels; c++)
            for (int py = 0; py < height; py++)
                add_slabs(squares + c * plane, py - half > 0 ? py - half : 0, py + half < height - 1 ? py + half : height - 1,
                          (size_t)width, sums + c * plane + (size_t)py * width);
        // Horizontal pass: squares (no longer needed) receives the final window sums.
        for (size_t r = 0; r < (size_t)channels * height; r++) {
            const int64_t *restrict columns = sums + r * width;
            int64_t *restrict out = squares + r * width;
            for (int px = 0; px < width; px++) out[px] = columns[px];
            for (int dx = 1; dx <= half; dx++) {
                for (int px = 0; px + dx < width; px++) out[px] += columns[px + dx];
                for (int px = dx; px < width; px++) out[px] += columns[px - dx];
            }
        }
        sums = squares;
    }
    int64_t largest = statistics->largest, saturated = 0;
    for (size_t i = 0; i < count; i++) {
        const int64_t s = sums[i];
        largest = s > largest ? s : largest;
        const int64_t scaled = lrn_scaled(s, x[i], table, table_shift, value_shift);
        const int64_t clamped = scaled < low ? low : scaled > high ? high : scaled;
        saturated += clamped != scaled;
        y[i] = (int32_t)clamped;
    }
    statistics->largest = largest;
    statistics->saturated += saturated;
}

#if BMQ_X86
BMQ_AVX2
static void avx2_normalize(const int32_t *x, int channels, int height, int width, int across_channels, int local_size,
                           const int32_t *table, int table_shift, int value_shift, int32_t low, int32_t high, int32_t *y,
                           bmq_requantize_statistics *statistics, int64_t *squares, int64_t *sums) {
    normalize_image(x, channels, height, width, across_channels, local_size, table, table_shift, value_shift, low, high, y,
                    statistics, squares, sums);
}
#endif

#if BMQ_X86
// AVX-512 has 64-bit multiplies and comparisons in the vector unit, which AVX2 emulates.
BMQ_AVX512_WIDE
static void avx512_normalize(const int32_t *x, int channels, int height, int width, int across_channels, int local_size,
                             const int32_t *table, int table_shift, int value_shift, int32_t low, int32_t high, int32_t *y,
                             bmq_requantize_statistics *statistics, int64_t *squares, int64_t *sums) {
    normalize_image(x, channels, height, width, across_channels, local_size, table, table_shift, value_shift, low, high, y,
                    statistics, squares, sums);
}
#endif

void bmq_normalize(const int32_t *x, int images, int channels, int height, int width, int across_channels, int local_size,
                   const int32_t *table, int table_shift, int value_shift, int32_t low, int32_t high, int32_t *y,
                   bmq_requantize_statistics *statistics, int64_t *scratch) {
    const size_t count = (size_t)channels * height * width;
    for (int image = 0; image < images; image++) {
        const int32_t *input = x + image * count;
        int32_t *output = y + image * count;
#if BMQ_X86
        if (wide_vectors()) {
            avx512_normalize(input, channels, height, width, across_channels, local_size, table, table_shift, value_shift, low, high,
                             output, statistics, scratch, scratch + count);
            continue;
        }
        if (bmq_dot_units() & BMQ_DOT_AVX2) {
            avx2_normalize(input, channels, height, width, across_channels, local_size, table, table_shift, value_shift, low, high,
                           output, statistics, scratch, scratch + count);
            continue;
        }
#endif
        normalize_image(input, channels, height, width, across_channels, local_size, table, table_shift, value_shift, low, high,
                        output, statistics, scratch, scratch + count);
    }
}

// ---- Activations kept as channel-packed bytes from layer to layer ----

void bmq_unpack_channels(const uint8_t *packed, int channels, int height, int width, int pad_h, int pad_w, int32_t offset,
                         int32_t *image) {
    const int padded_h = height + 2 * pad_h, padded_w = width + 2 * pad_w;
    const size_t cells = (size_t)padded_h * padded_w;
    for (int c = 0; c < channels; c++) {
        const uint8_t *group = packed + (size_t)(c / 4) * cells * 4 + c % 4;
        int32_t *plane = image + (size_t)c * height * width;
        for (int y = 0; y < height; y++) {
            const uint8_t *row = group + ((size_t)(y + pad_h) * padded_w + pad_w) * 4;
            for (int x = 0; x < width; x++) plane[(size_t)y * width + x] = (int32_t)row[(size_t)x * 4] - offset;
        }
    }
}

// Requantizes one (group, output row) of up to four channels into `values`, then interleaves them
// into the packed row; channels past `channels` keep the buffer's offset.
static inline __attribute__((always_inline))
void requantize_packed_image(const int32_t *sums, int channels, int out_h, int out_w, size_t channel_stride, int sum_stride, const int32_t *bias,
                             int shift, int32_t low, int32_t high, int signed_output, int32_t offset, uint8_t *packed,
                             int padded_h, int padded_w, int pad_h, int pad_w, bmq_requantize_statistics *statistics,
                             int32_t *values) {
    const int32_t counts_below = signed_output ? INT32_MIN : 1;
    int32_t largest = 0, saturated = 0;
    const int groups = (channels + 3) / 4;
    for (int g = 0; g < groups; g++) {
        const int in_group = channels - 4 * g < 4 ? channels - 4 * g : 4;
        for (int oy = 0; oy < out_h; oy++) {
            for (int j = 0; j < in_group; j++) {
                const int m = 4 * g + j;
                requantize_row(sums + (size_t)m * channel_stride + (size_t)oy * sum_stride, out_w, (uint32_t)bias[m], shift, low, high, counts_below,
                               values + (size_t)j * out_w, 1, &largest, &saturated);
            }
            uint8_t *restrict out = packed + (((size_t)g * padded_h + oy + pad_h) * padded_w + pad_w) * 4;
            if (in_group == 4) {
                for (int x = 0; x < out_w; x++)
                    for (int j = 0; j < 4; j++) out[(size_t)x * 4 + j] = (uint8_t)(values[(size_t)j * out_w + x] + offset);
            } else {
                for (int x = 0; x < out_w; x++)
                    for (int j = 0; j < in_group; j++) out[(size_t)x * 4 + j] = (uint8_t)(values[(size_t)j * out_w + x] + offset);
            }
        }
    }
    if (largest > statistics->largest) statistics->largest = largest;
    statistics->saturated += saturated;
}

#if BMQ_X86
BMQ_AVX2
static void avx2_requantize_packed(const int32_t *sums, int channels, int out_h, int out_w, size_t channel_stride, int sum_stride,
                                   const int32_t *bias,
                                   int shift, int32_t low, int32_t high, int signed_output, int32_t offset, uint8_t *packed,
                                   int padded_h, int padded_w, int pad_h, int pad_w, bmq_requantize_statistics *statistics,
                                   int32_t *values) {
    requantize_packed_image(sums, channels, out_h, out_w, channel_stride, sum_stride, bias, shift, low, high, signed_output, offset,
                            packed, padded_h, padded_w, pad_h, pad_w, statistics, values);
}
#endif

#if BMQ_X86
// The same with AVX-512: sixteen columns of the group's four channels requantized, each channel's
// byte shifted to its place in the 32-bit cell and the four ORed (one store of sixteen cells),
// the statistics kept in vectors over the whole image. A missing channel's bytes hold the offset.
BMQ_VNNI
static void avx512_requantize_packed(const int32_t *sums, int channels, int out_h, int out_w, size_t channel_stride, int sum_stride,
                                     const int32_t *bias,
                                     int shift, int32_t low, int32_t high, int signed_output, int32_t offset, uint8_t *packed,
                                     int padded_h, int padded_w, int pad_h, int pad_w, bmq_requantize_statistics *statistics) {
    const __m512i lows = _mm512_set1_epi32(low), highs = _mm512_set1_epi32(high), offsets = _mm512_set1_epi32(offset);
    const __m512i counts_below = _mm512_set1_epi32(signed_output ? INT32_MIN : 1);
    const __m512i round_bit = _mm512_set1_epi32(shift > 0 ? 1 : 0);
    const __m128i shift_count = _mm_cvtsi32_si128(shift), below_count = _mm_cvtsi32_si128(shift > 0 ? shift - 1 : 0);
    // Saturations counted per lane: 2^31 of them would take 2^35 outputs.
    const __m512i ones = _mm512_set1_epi32(1);
    __m512i largest = _mm512_setzero_si512(), saturated = _mm512_setzero_si512();
    const int groups = (channels + 3) / 4;
    for (int g = 0; g < groups; g++) {
        const int in_group = channels - 4 * g < 4 ? channels - 4 * g : 4;
        __m512i biases[4];
        for (int j = 0; j < 4; j++) biases[j] = _mm512_set1_epi32(j < in_group ? bias[4 * g + j] : 0);
        for (int oy = 0; oy < out_h; oy++) {
            uint8_t *out = packed + (((size_t)g * padded_h + oy + pad_h) * padded_w + pad_w) * 4;
            for (int x = 0; x < out_w; x += 16) {
                const __mmask16 lanes = out_w - x >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (out_w - x)) - 1);
                // Each channel's byte moved to its place in the cell, the four ORed into one vector of cells.
                __m512i cells = _mm512_setzero_si512();
                for (int j = 0; j < 4; j++) {
                    if (j >= in_group) { cells = _mm512_or_si512(cells, _mm512_slli_epi32(offsets, 8 * j)); continue; }
                    const int32_t *row = sums + (size_t)(4 * g + j) * channel_stride + (size_t)oy * sum_stride + x;
                    const __m512i acc = _mm512_add_epi32(_mm512_maskz_loadu_epi32(lanes, row), biases[j]);
                    largest = _mm512_mask_max_epi32(largest, lanes, largest, _mm512_abs_epi32(acc));
                    const __m512i shifted = _mm512_add_epi32(_mm512_sra_epi32(acc, shift_count),
                                                             _mm512_and_si512(_mm512_sra_epi32(acc, below_count), round_bit));
                    const __m512i clamped = _mm512_min_epi32(_mm512_max_epi32(shifted, lows), highs);
                    const __mmask16 counted = _mm512_mask_cmpneq_epi32_mask(lanes, clamped, shifted) &
                                              _mm512_cmpge_epi32_mask(shifted, counts_below);
                    saturated = _mm512_mask_add_epi32(saturated, counted, saturated, ones);
                    cells = _mm512_or_si512(cells, _mm512_slli_epi32(_mm512_add_epi32(clamped, offsets), 8 * j));
                }
                _mm512_mask_storeu_epi32(out + (size_t)x * 4, lanes, cells);
            }
        }
    }
    const int32_t seen = _mm512_reduce_max_epi32(largest);
    if (seen > statistics->largest) statistics->largest = seen;
    statistics->saturated += _mm512_reduce_add_epi32(saturated);
}
#endif

void bmq_requantize_packed(const int32_t *sums, int channels, int out_h, int out_w, size_t channel_stride, int sum_stride,
                           const int32_t *bias,
                           int shift, int32_t low, int32_t high, int signed_output, int32_t offset, uint8_t *packed,
                           int pad_h, int pad_w, bmq_requantize_statistics *statistics, int32_t *values) {
    const int padded_h = out_h + 2 * pad_h, padded_w = out_w + 2 * pad_w;
#if BMQ_X86
    if (bmq_dot_units() & BMQ_DOT_AVX512_VNNI) {
        // Unpadded output from contiguous rows of sums: the channel is one long row, in whole
        // vectors. (The other paths keep rows: their scratch `values` holds four rows.)
        if (pad_h == 0 && pad_w == 0 && sum_stride == out_w)
            avx512_requantize_packed(sums, channels, 1, out_h * out_w, channel_stride, out_h * out_w, bias, shift, low, high, signed_output,
                                     offset, packed, 1, out_h * out_w, 0, 0, statistics);
        else
            avx512_requantize_packed(sums, channels, out_h, out_w, channel_stride, sum_stride, bias, shift, low, high, signed_output,
                                     offset, packed, padded_h, padded_w, pad_h, pad_w, statistics);
        return;
    }
    if (bmq_dot_units() & BMQ_DOT_AVX2) {
        avx2_requantize_packed(sums, channels, out_h, out_w, channel_stride, sum_stride, bias, shift, low, high, signed_output, offset,
                               packed, padded_h, padded_w, pad_h, pad_w, statistics, values);
        return;
    }
#endif
    requantize_packed_image(sums, channels, out_h, out_w, channel_stride, sum_stride, bias, shift, low, high, signed_output, offset,
                            packed, padded_h, padded_w, pad_h, pad_w, statistics, values);
}

// Byte pooling: the window's rows are reduced first, 4 x width bytes at a time (contiguous, so
// vectorised), then the window's columns for the outputs whose window lies inside the row (a
// pass per window column, constant strides 1 and 2 compiled apart so the loads vectorise), and
// the border outputs one by one. MAX compares the offset bytes (the offset keeps their order);
// AVE sums them in 16 bits, removes the offset of each cell read and divides as the 32-bit
// path does.
static inline __attribute__((always_inline))
void packed_window_columns(const uint16_t *restrict columns, int32_t *restrict window, int first, int end, int stride, int offset,
                           int kernel_w, int is_max) {
    for (int ox = first; ox < end; ox++)
        for (int j = 0; j < 4; j++) window[ox * 4 + j] = columns[(ox * stride + offset) * 4 + j];
    for (int kx = 1; kx < kernel_w; kx++) {
        for (int ox = first; ox < end; ox++) {
            for (int j = 0; j < 4; j++) {
                const int32_t v = columns[(ox * stride + offset + kx) * 4 + j];
                window[ox * 4 + j] = is_max ? (v > window[ox * 4 + j] ? v : window[ox * 4 + j]) : window[ox * 4 + j] + v;
            }
        }
    }
}

#if BMQ_X86
// Stride 2 with AVX2: four output cells at a time, each window column's eight cells loaded in two
// vectors and their even cells picked by one unpack and one permute; sums stay in 16 bits (the
// caller keeps kernel_h x kernel_w x 255 below 2^16). Reads one cell past the last it uses.
BMQ_AVX2
static int avx2_window_columns_stride2(const uint16_t *columns, int32_t *window, int first, int end, int offset, int kernel_w,
                                       int is_max) {
    int ox = first;
    for (; ox + 4 <= end; ox += 4) {
        __m256i acc = _mm256_setzero_si256();
        for (int k = 0; k < kernel_w; k++) {
            const uint16_t *cell = columns + (size_t)(ox * 2 + offset + k) * 4;
            const __m256i low = _mm256_loadu_si256((const __m256i *)cell), high = _mm256_loadu_si256((const __m256i *)(cell + 16));
            const __m256i even = _mm256_permute4x64_epi64(_mm256_unpacklo_epi64(low, high), 0xD8);
            acc = k == 0 ? even : is_max ? _mm256_max_epu16(acc, even) : _mm256_add_epi16(acc, even);
        }
        _mm256_storeu_si256((__m256i *)(window + ox * 4), _mm256_cvtepu16_epi32(_mm256_castsi256_si128(acc)));
        _mm256_storeu_si256((__m256i *)(window + ox * 4 + 8), _mm256_cvtepu16_epi32(_mm256_extracti128_si256(acc, 1)));
    }
    return ox;
}
#endif

static inline __attribute__((always_inline))
void pool_packed_group(const uint8_t *restrict input, size_t row_bytes, const pool_shape *s, const int32_t *restrict reciprocals,
                       int32_t offset, uint8_t *restrict output, size_t out_row_bytes, uint16_t *restrict columns,
                       int32_t *restrict window, int vector_windows) {
    const int is_max = reciprocals == NULL, values = 4 * s->width;
    int32_t *restrict cell_reciprocals = window + 4 * s->out_w;
    for (int oy = 0; oy < s->out_h; oy++) {
        const int y0 = oy * s->stride_h - s->pad_h;
        const int top = y0 > 0 ? y0 : 0, bottom = y0 + s->kernel_h < s->height ? y0 + s->kernel_h : s->height;
        BMQ_SHORT_LOOP for (int i = 0; i < values; i++) columns[i] = input[(size_t)top * row_bytes + i];
        for (int iy = top + 1; iy < bottom; iy++) {
            const uint8_t *restrict row = input + (size_t)iy * row_bytes;
            if (is_max) {
                BMQ_SHORT_LOOP for (int i = 0; i < values; i++) columns[i] = row[i] > columns[i] ? row[i] : columns[i];
            } else {
                BMQ_SHORT_LOOP for (int i = 0; i < values; i++) columns[i] += row[i];
            }
        }
        if (s->stride_w == 1) packed_window_columns(columns, window, s->first, s->end, 1, -s->pad_w, s->kernel_w, is_max);
        else if (s->stride_w == 2) {
            int done = s->first;
#if BMQ_X86
            if (vector_windows) done = avx2_window_columns_stride2(columns, window, s->first, s->end, -s->pad_w, s->kernel_w, is_max);
#endif
            packed_window_columns(columns, window, done, s->end, 2, -s->pad_w, s->kernel_w, is_max);
        }
        else packed_window_columns(columns, window, s->first, s->end, s->stride_w, -s->pad_w, s->kernel_w, is_max);
        uint8_t *restrict out = output + (size_t)oy * out_row_bytes;
        const int from = 4 * s->first, to = 4 * s->end;
        if (is_max) {
            BMQ_SHORT_LOOP for (int i = from; i < to; i++) out[i] = (uint8_t)window[i];
        } else {
            const int32_t *restrict r = reciprocals + (size_t)oy * s->out_w;
            for (int ox = s->first; ox < s->end; ox++)
                for (int j = 0; j < 4; j++) cell_reciprocals[ox * 4 + j] = r[ox];
            const int32_t removed = (bottom - top) * s->kernel_w * offset;
            BMQ_SHORT_LOOP for (int i = from; i < to; i++)
                out[i] = (uint8_t)((((window[i] - removed) * cell_reciprocals[i] + 32768) >> 16) + offset);
        }
        // Outputs whose window the row's ends clip.
        for (int ox = 0; ox < s->out_w; ox++) {
            if (ox == s->first && s->end > s->first) ox = s->end;
            if (ox >= s->out_w) break;
            const int x0 = ox * s->stride_w - s->pad_w;
            const int left = x0 > 0 ? x0 : 0, right = x0 + s->kernel_w < s->width ? x0 + s->kernel_w : s->width;
            for (int j = 0; j < 4; j++) {
                int32_t value = columns[left * 4 + j];
                for (int ix = left + 1; ix < right; ix++) {
                    const int32_t next = columns[ix * 4 + j];
                    value = is_max ? (next > value ? next : value) : value + next;
                }
                if (!is_max) {
                    const int32_t sum = value - (bottom - top) * (right - left) * offset;
                    value = ((sum * reciprocals[oy * s->out_w + ox] + 32768) >> 16) + offset;
                }
                out[ox * 4 + j] = (uint8_t)value;
            }
        }
    }
}

static inline __attribute__((always_inline))
void pool_packed_groups(const uint8_t *x, int groups, int in_pad_h, int in_pad_w, const pool_shape *s, const int32_t *reciprocals,
                        int32_t offset, uint8_t *y, int out_pad_h, int out_pad_w, uint16_t *columns, int32_t *window, int avx2) {
    // The AVX2 windows sum in 16 bits.
    const int vector_windows = avx2 && s->kernel_h * s->kernel_w <= 257;
    const int in_w = s->width + 2 * in_pad_w, in_h = s->height + 2 * in_pad_h;
    const int out_w = s->out_w + 2 * out_pad_w, out_h = s->out_h + 2 * out_pad_h;
    for (int g = 0; g < groups; g++) {
        const uint8_t *input = x + (((size_t)g * in_h + in_pad_h) * in_w + in_pad_w) * 4;
        uint8_t *output = y + (((size_t)g * out_h + out_pad_h) * out_w + out_pad_w) * 4;
        pool_packed_group(input, (size_t)in_w * 4, s, reciprocals, offset, output, (size_t)out_w * 4, columns, window, vector_windows);
    }
}

#if BMQ_X86
BMQ_AVX2
static void avx2_pool_packed(const uint8_t *x, int groups, int in_pad_h, int in_pad_w, const pool_shape *s, const int32_t *reciprocals,
                             int32_t offset, uint8_t *y, int out_pad_h, int out_pad_w, uint16_t *columns, int32_t *window) {
    pool_packed_groups(x, groups, in_pad_h, in_pad_w, s, reciprocals, offset, y, out_pad_h, out_pad_w, columns, window, 1);
}
#endif

#if BMQ_X86
// One output row of the 512-bit pooling kernels: the input rows its windows read (`rows` of
// them from `first`, `row_bytes` apart, each read in `chunks` 64-byte pieces of sixteen cells, the
// last masked to the row's end) and its output cells.
typedef struct {
    const uint8_t *first;
    size_t row_bytes;
    int rows, chunks;
    __mmask64 last_chunk;
    uint8_t *out;
} packed_pool_row;

static inline __attribute__((always_inline)) packed_pool_row packed_pool_row_at(const uint8_t *x, uint8_t *y, const pool_shape *s, int g,
                                                                               int oy, int in_pad_h, int in_pad_w, int out_pad_h,
                                                                               int out_pad_w) {
    const int in_w = s->width + 2 * in_pad_w, in_h = s->height + 2 * in_pad_h;
    const int out_w = s->out_w + 2 * out_pad_w, out_h = s->out_h + 2 * out_pad_h;
    const int y0 = oy * s->stride_h - s->pad_h;
    const int top = y0 > 0 ? y0 : 0, bottom = y0 + s->kernel_h < s->height ? y0 + s->kernel_h : s->height;
    const packed_pool_row row = {
        .first = x + (((size_t)g * in_h + in_pad_h + top) * in_w + in_pad_w) * 4,
        .row_bytes = (size_t)in_w * 4,
        .rows = bottom - top,
        .chunks = (s->width + 15) / 16,
        .last_chunk = s->width % 16 == 0 ? ~(__mmask64)0 : ((__mmask64)1 << (s->width % 16 * 4)) - 1,
        .out = y + (((size_t)g * out_h + out_pad_h + oy) * out_w + out_pad_w) * 4,
    };
    return row;
}

static inline __attribute__((always_inline)) __mmask64 packed_pool_chunk_mask(const packed_pool_row *row, int chunk) {
    return chunk == row->chunks - 1 ? row->last_chunk : ~(__mmask64)0;
}
#endif

#if BMQ_X86
// The widest row and window the 512-bit MAX kernel takes.
#define BMQ_MAX_POOL_CELLS 256
#define BMQ_MAX_POOL_KERNEL 16

// MAX pooling at stride 1 or 2 without horizontal padding, on 512-bit vectors. Each output row's
// window rows are reduced cell by cell into `rows`, zero past the row's end: zero is below every
// offset byte, so the windows the right edge clips need no test. Then each output is the largest
// of its window's cells: sixteen cells loaded from each window column's offset (at stride 2, the
// even cells of them, narrowed by vpmovqd).
BMQ_AVX512_WIDE
static void avx512_max_pool_packed(const uint8_t *x, int groups, int in_pad_h, int in_pad_w, const pool_shape *s, uint8_t *y,
                                   int out_pad_h, int out_pad_w) {
    uint8_t rows[(BMQ_MAX_POOL_CELLS + 48) * 4] __attribute__((aligned(64)));
    memset(rows + (size_t)(s->width + 15) / 16 * 64, 0, 48 * 4);
    for (int g = 0; g < groups; g++) {
        for (int oy = 0; oy < s->out_h; oy++) {
            const packed_pool_row row = packed_pool_row_at(x, y, s, g, oy, in_pad_h, in_pad_w, out_pad_h, out_pad_w);
            for (int c = 0; c < row.chunks; c++) {
                const __mmask64 mask = packed_pool_chunk_mask(&row, c);
                const uint8_t *cells = row.first + (size_t)c * 64;
                __m512i m = _mm512_maskz_loadu_epi8(mask, cells);
                for (int iy = 1; iy < row.rows; iy++) m = _mm512_max_epu8(m, _mm512_maskz_loadu_epi8(mask, cells + (size_t)iy * row.row_bytes));
                _mm512_store_si512(rows + (size_t)c * 64, m);
            }
            uint8_t *out = row.out;
            if (s->stride_w == 2) {
                for (int ox = 0; ox < s->out_w; ox += 8) {
                    __m512i r = _mm512_loadu_si512(rows + (size_t)ox * 8);
                    for (int k = 1; k < s->kernel_w; k++) r = _mm512_max_epu8(r, _mm512_loadu_si512(rows + (size_t)(2 * ox + k) * 4));
                    const int n = s->out_w - ox < 8 ? s->out_w - ox : 8;
                    _mm256_mask_storeu_epi8(out + (size_t)ox * 4, (__mmask32)(((uint64_t)1 << (n * 4)) - 1), _mm512_cvtepi64_epi32(r));
                }
            } else {
                for (int ox = 0; ox < s->out_w; ox += 16) {
                    __m512i r = _mm512_loadu_si512(rows + (size_t)ox * 4);
                    for (int k = 1; k < s->kernel_w; k++) r = _mm512_max_epu8(r, _mm512_loadu_si512(rows + (size_t)(ox + k) * 4));
                    const int n = s->out_w - ox < 16 ? s->out_w - ox : 16;
                    _mm512_mask_storeu_epi8(out + (size_t)ox * 4, n == 16 ? ~(__mmask64)0 : ((__mmask64)1 << (n * 4)) - 1, r);
                }
            }
        }
    }
}
#endif

#if BMQ_X86
// AVE pooling under the same conditions, on 512-bit vectors: each output row's window rows summed
// cell by cell in 16 bits (zero past the row's end, which adds nothing), then eight outputs at a
// time the window's columns (at stride 2 the even cells of two vectors, picked by one permute);
// then, as `pool_packed_group` computes it, the offset of each cell read removed (the right edge
// clips the count of columns) and the sum scaled by the output's reciprocal, in 32 bits.
BMQ_AVX512_WIDE
static void avx512_average_pool_packed(const uint8_t *x, int groups, int in_pad_h, int in_pad_w, const pool_shape *s,
                                       const int32_t *reciprocals, int32_t offset, uint8_t *y, int out_pad_h, int out_pad_w) {
    // Four 16-bit column sums per cell.
    uint16_t rows[(BMQ_MAX_POOL_CELLS + 48) * 4] __attribute__((aligned(64)));
    memset(rows + (size_t)(s->width + 15) / 16 * 64, 0, 48 * 4 * sizeof(uint16_t));
    // Columns each output's window reads, before the right edge.
    int32_t columns_read[BMQ_MAX_POOL_CELLS + 8];
    for (int ox = 0; ox < s->out_w + 8; ox++) {
        const int left = ox * s->stride_w, right = left + s->kernel_w < s->width ? left + s->kernel_w : s->width;
        columns_read[ox] = right > left ? right - left : 0;
    }
    // Lane i of a vector of four cells takes cell i / 4's reciprocal and count.
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const __m512i even_cells = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    const __m512i rounding = _mm512_set1_epi32(32768), offsets = _mm512_set1_epi32(offset);
    for (int g = 0; g < groups; g++) {
        for (int oy = 0; oy < s->out_h; oy++) {
            const packed_pool_row row = packed_pool_row_at(x, y, s, g, oy, in_pad_h, in_pad_w, out_pad_h, out_pad_w);
            for (int c = 0; c < row.chunks; c++) {
                const __mmask64 mask = packed_pool_chunk_mask(&row, c);
                __m512i low = _mm512_setzero_si512(), high = _mm512_setzero_si512();
                for (int iy = 0; iy < row.rows; iy++) {
                    const __m512i bytes = _mm512_maskz_loadu_epi8(mask, row.first + (size_t)iy * row.row_bytes + (size_t)c * 64);
                    low = _mm512_add_epi16(low, _mm512_cvtepu8_epi16(_mm512_castsi512_si256(bytes)));
                    high = _mm512_add_epi16(high, _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(bytes, 1)));
                }
                _mm512_store_si512(rows + (size_t)c * 64, low);
                _mm512_store_si512(rows + (size_t)c * 64 + 32, high);
            }
            const __m512i removed_per_column = _mm512_set1_epi32(row.rows * offset);
            const int32_t *row_reciprocals = reciprocals + (size_t)oy * s->out_w;
            uint8_t *out = row.out;
            for (int ox = 0; ox < s->out_w; ox += 8) {
                // Eight cells' window sums, four channels each.
                __m512i sums = _mm512_setzero_si512();
                for (int k = 0; k < s->kernel_w; k++) {
                    const uint16_t *cell = rows + (size_t)(s->stride_w * ox + k) * 4;
                    const __m512i columns = s->stride_w == 2
                        ? _mm512_permutex2var_epi64(_mm512_loadu_si512(cell), even_cells, _mm512_loadu_si512(cell + 32))
                        : _mm512_loadu_si512(cell);
                    sums = _mm512_add_epi16(sums, columns);
                }
                for (int half = 0; half < 2 && ox + 4 * half < s->out_w; half++) {
                    const int first = ox + 4 * half, n = s->out_w - first < 4 ? s->out_w - first : 4;
                    const __mmask16 cells = (__mmask16)((1u << n) - 1);
                    const __m512i total = _mm512_cvtepu16_epi32(avx512_half(sums, half));
                    const __m512i scale = _mm512_permutexvar_epi32(spread, _mm512_castsi128_si512(_mm_maskz_loadu_epi32(cells, row_reciprocals + first)));
                    const __m512i counted = _mm512_permutexvar_epi32(spread, _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(columns_read + first))));
                    const __m512i centred = _mm512_sub_epi32(total, _mm512_mullo_epi32(counted, removed_per_column));
                    const __m512i averaged = _mm512_add_epi32(_mm512_srai_epi32(_mm512_add_epi32(_mm512_mullo_epi32(centred, scale), rounding), 16), offsets);
                    _mm_mask_storeu_epi8(out + (size_t)first * 4, (__mmask16)(((uint32_t)1 << (4 * n)) - 1), _mm512_cvtepi32_epi8(averaged));
                }
            }
        }
    }
}
#endif

void bmq_pool_packed(const uint8_t *x, int channels, int height, int width, int in_pad_h, int in_pad_w, int kernel_h, int kernel_w,
                     int stride_h, int stride_w, int pad_h, int pad_w, int out_h, int out_w, const int32_t *reciprocals, int32_t offset,
                     uint8_t *y, int out_pad_h, int out_pad_w, uint16_t *columns, int32_t *window) {
    pool_shape s = {height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w, 0, 0};
    pool_interior(&s);
    const int groups = (channels + 3) / 4;
#if BMQ_X86
    // The 512-bit kernels' windows: every one starts inside the image when it is at least as
    // large as its stride, and the row buffers cover the widths.
    const int wide_windows = wide_vectors() && pad_w == 0 && (stride_w == 1 || stride_w == 2) && kernel_w >= stride_w &&
                             kernel_h >= stride_h && kernel_w <= BMQ_MAX_POOL_KERNEL && width <= BMQ_MAX_POOL_CELLS;
    if (wide_windows && reciprocals == NULL) {
        avx512_max_pool_packed(x, groups, in_pad_h, in_pad_w, &s, y, out_pad_h, out_pad_w);
        return;
    }
    // AVE's 16-bit window sums need kernel_h x kernel_w x 255 below 2^16.
    if (wide_windows && kernel_h * kernel_w <= 257) {
        avx512_average_pool_packed(x, groups, in_pad_h, in_pad_w, &s, reciprocals, offset, y, out_pad_h, out_pad_w);
        return;
    }
    if (bmq_dot_units() & BMQ_DOT_AVX2) {
        avx2_pool_packed(x, groups, in_pad_h, in_pad_w, &s, reciprocals, offset, y, out_pad_h, out_pad_w, columns, window);
        return;
    }
#endif
    pool_packed_groups(x, groups, in_pad_h, in_pad_w, &s, reciprocals, offset, y, out_pad_h, out_pad_w, columns, window, 0);
}

// ---- A convolution's requantization fused with the MAX pooling that alone reads its output ----
// Requantization never lowers a value's order, so the window's largest accumulator, requantized,
// is the byte that requantizing every accumulator and pooling them would give. The statistics stay
// the unpooled requantization's: each channel's largest and smallest accumulator bound
// |sum + bias|, and only a channel whose extremes leave the format is counted value by value.
// Accumulators are sum + bias in wrapping 32-bit arithmetic, as `requantize_row` recovers them.

// A channel's share of the unpooled requantization's statistics from its largest and smallest
// accumulators: |acc| is at most the larger magnitude, and saturations are counted value by value
// (as `requantize_row` counts them) only when an extreme leaves the format.
static inline __attribute__((always_inline))
void channel_statistics(const int32_t *plane, int height, int width, int sum_stride, uint32_t bias, int32_t top, int32_t bottom,
                        int shift, int32_t low, int32_t high, int32_t counts_below, int32_t *largest, int64_t *saturated) {
    const int below = shift > 0 ? shift - 1 : 0;
    const int32_t round_bit = shift > 0 ? 1 : 0;
    const int32_t magnitude = top > -bottom ? top : -bottom;
    *largest = magnitude > *largest ? magnitude : *largest;
    const int32_t top_shifted = (top >> shift) + ((top >> below) & round_bit);
    const int32_t bottom_shifted = (bottom >> shift) + ((bottom >> below) & round_bit);
    if (top_shifted <= high && (bottom_shifted >= low || counts_below >= low)) return;
    for (int y = 0; y < height; y++) {
        const int32_t *row = plane + (size_t)y * sum_stride;
        for (int x = 0; x < width; x++) {
            const int32_t acc = (int32_t)((uint32_t)row[x] + bias);
            const int32_t shifted = (acc >> shift) + ((acc >> below) & round_bit);
            *saturated += (shifted > high || shifted < low) && shifted >= counts_below;
        }
    }
}

// Outputs first..<out_w of one pooled row, window by window, from the row's column maxima (the
// windows an edge clips), with `bias` taken off again.
static inline __attribute__((always_inline))
void pool_row_windows(const int32_t *row_max, int width, int first, int out_w, int kernel_w, int stride_w, int pad_w, uint32_t bias,
                      int32_t *out) {
    for (int ox = first; ox < out_w; ox++) {
        const int x0 = ox * stride_w - pad_w;
        const int start = x0 > 0 ? x0 : 0, end = x0 + kernel_w < width ? x0 + kernel_w : width;
        int32_t m = row_max[start];
        for (int x = start + 1; x < end; x++) m = row_max[x] > m ? row_max[x] : m;
        out[ox] = (int32_t)((uint32_t)m - bias);
    }
}

static inline __attribute__((always_inline))
void max_pool_accumulators(const int32_t *restrict sums, int channels, int height, int width, size_t channel_stride, int sum_stride,
                           const int32_t *bias, int shift, int32_t low, int32_t high, int signed_output, int kernel_h, int kernel_w,
                           int stride_h, int stride_w, int pad_h, int pad_w, int out_h, int out_w, int32_t *restrict pooled,
                           int32_t *restrict row_max, bmq_requantize_statistics *statistics) {
    const int32_t counts_below = signed_output ? INT32_MIN : 1;
    int32_t largest = 0;
    int64_t saturated = 0;
    for (int c = 0; c < channels; c++) {
        const int32_t *plane = sums + (size_t)c * channel_stride;
        const uint32_t b = (uint32_t)bias[c];
        int32_t top = INT32_MIN, bottom = INT32_MAX;
        for (int y = 0; y < height; y++) {
            const int32_t *row = plane + (size_t)y * sum_stride;
            BMQ_SHORT_LOOP for (int x = 0; x < width; x++) {
                const int32_t acc = (int32_t)((uint32_t)row[x] + b);
                top = acc > top ? acc : top;
                bottom = acc < bottom ? acc : bottom;
            }
        }
        channel_statistics(plane, height, width, sum_stride, b, top, bottom, shift, low, high, counts_below, &largest, &saturated);
        for (int oy = 0; oy < out_h; oy++) {
            const int y0 = oy * stride_h - pad_h;
            const int first_row = y0 > 0 ? y0 : 0, end_row = y0 + kernel_h < height ? y0 + kernel_h : height;
            const int32_t *row = plane + (size_t)first_row * sum_stride;
            BMQ_SHORT_LOOP for (int x = 0; x < width; x++) row_max[x] = (int32_t)((uint32_t)row[x] + b);
            for (int y = first_row + 1; y < end_row; y++) {
                row = plane + (size_t)y * sum_stride;
                BMQ_SHORT_LOOP for (int x = 0; x < width; x++) {
                    const int32_t acc = (int32_t)((uint32_t)row[x] + b);
                    row_max[x] = acc > row_max[x] ? acc : row_max[x];
                }
            }
            // Back to sums (the requantization adds the bias again). Windows inside the row with
            // the usual stride 2 and width 2 or 3 get loops of their own, which vectorise.
            int32_t *out = pooled + ((size_t)c * out_h + oy) * out_w;
            int ox = 0;
            if (stride_w == 2 && pad_w == 0 && width >= kernel_w) {
                int inside = (width - kernel_w) / 2 + 1;
                inside = inside < out_w ? inside : out_w;
                if (kernel_w == 2) {
                    BMQ_SHORT_LOOP for (; ox < inside; ox++) {
                        const int32_t l = row_max[2 * ox], r = row_max[2 * ox + 1];
                        out[ox] = (int32_t)((uint32_t)(l > r ? l : r) - b);
                    }
                } else if (kernel_w == 3) {
                    BMQ_SHORT_LOOP for (; ox < inside; ox++) {
                        const int32_t l = row_max[2 * ox], m = row_max[2 * ox + 1], r = row_max[2 * ox + 2];
                        const int32_t lm = l > m ? l : m;
                        out[ox] = (int32_t)((uint32_t)(lm > r ? lm : r) - b);
                    }
                }
            }
            pool_row_windows(row_max, width, ox, out_w, kernel_w, stride_w, pad_w, b, out);
        }
    }
    if (largest > statistics->largest) statistics->largest = largest;
    statistics->saturated += saturated;
}

#if BMQ_X86
// Rows of at most 32 sums pooled with stride 2 and a window 2 or 3 wide, all in registers: the
// window's rows reduced into one vector (rows of 16 or fewer) or two, their columns picked by
// permutes. The sums and the accumulators both fit 32 bits (`ByteLayer`), so the bias is added to
// the extremes only. When the windows tile the rows (LeNet's 2 x 2), the statistics' extremes
// come from the same pass.
BMQ_AVX512_WIDE static inline __attribute__((always_inline))
void max_pool_narrow_rows(const int32_t *sums, int channels, int height, int width, size_t channel_stride, int sum_stride,
                          const int32_t *bias, int shift, int32_t low, int32_t high, int signed_output, int kernel_h, int kernel_w,
                          int stride_h, int pad_h, int out_h, int out_w, int32_t *pooled, bmq_requantize_statistics *statistics,
                          const int two_vectors) {
    const int32_t counts_below = signed_output ? INT32_MIN : 1;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1)), third = _mm512_add_epi32(even, _mm512_set1_epi32(2));
    const __mmask16 first_lanes = width >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << width) - 1);
    const __mmask16 second_lanes = width > 16 ? (__mmask16)((1ull << (width - 16)) - 1) : 0;
    int inside = (width - kernel_w) / 2 + 1;
    inside = inside < out_w ? inside : out_w;
    const __mmask16 stored = (__mmask16)((1u << inside) - 1);
    const int tiles = kernel_h == stride_h && pad_h == 0 && out_h * kernel_h >= height;
    const __m512i lowest = _mm512_set1_epi32(INT32_MIN), highest = _mm512_set1_epi32(INT32_MAX);
    int32_t largest = 0;
    int64_t saturated = 0;
    for (int c = 0; c < channels; c++) {
        const int32_t *plane = sums + (size_t)c * channel_stride;
        __m512i tops = lowest, bottoms = highest;
        if (!tiles) {
            for (int y = 0; y < height; y++) {
                const int32_t *row = plane + (size_t)y * sum_stride;
                const __m512i left = _mm512_maskz_loadu_epi32(first_lanes, row);
                tops = _mm512_mask_max_epi32(tops, first_lanes, tops, left);
                bottoms = _mm512_mask_min_epi32(bottoms, first_lanes, bottoms, left);
                if (two_vectors) {
                    const __m512i right = _mm512_maskz_loadu_epi32(second_lanes, row + 16);
                    tops = _mm512_mask_max_epi32(tops, second_lanes, tops, right);
                    bottoms = _mm512_mask_min_epi32(bottoms, second_lanes, bottoms, right);
                }
            }
        }
        int32_t *out = pooled + (size_t)c * out_h * out_w;
        for (int oy = 0; oy < out_h; oy++) {
            const int y0 = oy * stride_h - pad_h;
            const int first_row = y0 > 0 ? y0 : 0, end_row = y0 + kernel_h < height ? y0 + kernel_h : height;
            __m512i left = lowest, right = lowest, left_min = highest, right_min = highest;
            for (int y = first_row; y < end_row; y++) {
                const int32_t *row = plane + (size_t)y * sum_stride;
                const __m512i l = _mm512_maskz_loadu_epi32(first_lanes, row);
                left = _mm512_max_epi32(left, l);
                if (tiles) left_min = _mm512_min_epi32(left_min, l);
                if (two_vectors) {
                    const __m512i r = _mm512_maskz_loadu_epi32(second_lanes, row + 16);
                    right = _mm512_max_epi32(right, r);
                    if (tiles) right_min = _mm512_min_epi32(right_min, r);
                }
            }
            if (tiles) {
                tops = _mm512_mask_max_epi32(tops, first_lanes, tops, left);
                bottoms = _mm512_mask_min_epi32(bottoms, first_lanes, bottoms, left_min);
                if (two_vectors) {
                    tops = _mm512_mask_max_epi32(tops, second_lanes, tops, right);
                    bottoms = _mm512_mask_min_epi32(bottoms, second_lanes, bottoms, right_min);
                }
            }
            __m512i m = _mm512_max_epi32(_mm512_permutex2var_epi32(left, even, right), _mm512_permutex2var_epi32(left, odd, right));
            if (kernel_w == 3) m = _mm512_max_epi32(m, _mm512_permutex2var_epi32(left, third, right));
            int32_t *row_out = out + (size_t)oy * out_w;
            _mm512_mask_storeu_epi32(row_out, stored, m);
            if (inside < out_w) {
                // Windows the right edge clips.
                int32_t row_max[32];
                _mm512_storeu_si512(row_max, left);
                _mm512_storeu_si512(row_max + 16, right);
                pool_row_windows(row_max, width, inside, out_w, kernel_w, 2, 0, 0, row_out);
            }
        }
        const int32_t b = bias[c];
        const int32_t top = _mm512_reduce_max_epi32(tops) + b, bottom = _mm512_reduce_min_epi32(bottoms) + b;
        channel_statistics(plane, height, width, sum_stride, b, top, bottom, shift, low, high, counts_below, &largest, &saturated);
    }
    if (largest > statistics->largest) statistics->largest = largest;
    statistics->saturated += saturated;
}

// Returns 0 for the shapes `max_pool_narrow_rows` does not take.
BMQ_AVX512_WIDE
static int avx512_max_pool_narrow_rows(const int32_t *sums, int channels, int height, int width, size_t channel_stride, int sum_stride,
                                       const int32_t *bias, int shift, int32_t low, int32_t high, int signed_output, int kernel_h,
                                       int kernel_w, int stride_h, int pad_h, int out_h, int out_w, int32_t *pooled,
                                       bmq_requantize_statistics *statistics) {
    if (width > 32 || width < kernel_w || (kernel_w != 2 && kernel_w != 3)) return 0;
    if (width > 16)
        max_pool_narrow_rows(sums, channels, height, width, channel_stride, sum_stride, bias, shift, low, high, signed_output, kernel_h,
                             kernel_w, stride_h, pad_h, out_h, out_w, pooled, statistics, 1);
    else
        max_pool_narrow_rows(sums, channels, height, width, channel_stride, sum_stride, bias, shift, low, high, signed_output, kernel_h,
                             kernel_w, stride_h, pad_h, out_h, out_w, pooled, statistics, 0);
    return 1;
}

// The same with AVX-512, sixteen accumulators at a time: each channel's extremes kept in vectors
// and reduced once, and for stride 2 the window's columns picked from two vectors by a permute.
// `row_max` has 48 values of slack after `width`.
BMQ_AVX512_WIDE
static void avx512_max_pool_accumulators(const int32_t *sums, int channels, int height, int width, size_t channel_stride, int sum_stride,
                                         const int32_t *bias, int shift, int32_t low, int32_t high, int signed_output, int kernel_h,
                                         int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, int out_h, int out_w,
                                         int32_t *pooled, int32_t *row_max, bmq_requantize_statistics *statistics) {
    const int32_t counts_below = signed_output ? INT32_MIN : 1;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __mmask16 width_tail = (__mmask16)((1u << (width % 16)) - 1);
    int32_t largest = 0;
    int64_t saturated = 0;
    for (int c = 0; c < channels; c++) {
        const int32_t *plane = sums + (size_t)c * channel_stride;
        const uint32_t b = (uint32_t)bias[c];
        const __m512i biases = _mm512_set1_epi32((int32_t)b);
        __m512i tops = _mm512_set1_epi32(INT32_MIN), bottoms = _mm512_set1_epi32(INT32_MAX);
        // A plane without padding between its rows is one long row.
        const int rows = sum_stride == width ? 1 : height, row_length = sum_stride == width ? height * width : width;
        const int full = row_length / 16;
        const __mmask16 tail = (__mmask16)((1u << (row_length % 16)) - 1);
        for (int y = 0; y < rows; y++) {
            const int32_t *row = plane + (size_t)y * sum_stride;
            for (int i = 0; i < full; i++) {
                const __m512i acc = _mm512_add_epi32(_mm512_loadu_si512(row + 16 * i), biases);
                tops = _mm512_max_epi32(tops, acc);
                bottoms = _mm512_min_epi32(bottoms, acc);
            }
            if (tail) {
                const __m512i acc = _mm512_add_epi32(_mm512_maskz_loadu_epi32(tail, row + 16 * full), biases);
                tops = _mm512_mask_max_epi32(tops, tail, tops, acc);
                bottoms = _mm512_mask_min_epi32(bottoms, tail, bottoms, acc);
            }
        }
        const int32_t top = _mm512_reduce_max_epi32(tops), bottom = _mm512_reduce_min_epi32(bottoms);
        channel_statistics(plane, height, width, sum_stride, b, top, bottom, shift, low, high, counts_below, &largest, &saturated);
        for (int oy = 0; oy < out_h; oy++) {
            const int y0 = oy * stride_h - pad_h;
            const int first_row = y0 > 0 ? y0 : 0, end_row = y0 + kernel_h < height ? y0 + kernel_h : height;
            const int32_t *top_row = plane + (size_t)first_row * sum_stride;
            for (int x = 0; x < width; x += 16) {
                const __mmask16 lanes = x + 16 <= width ? (__mmask16)0xFFFF : width_tail;
                __m512i m = _mm512_add_epi32(_mm512_maskz_loadu_epi32(lanes, top_row + x), biases);
                for (int y = first_row + 1; y < end_row; y++)
                    m = _mm512_max_epi32(m, _mm512_add_epi32(_mm512_maskz_loadu_epi32(lanes, plane + (size_t)y * sum_stride + x), biases));
                _mm512_storeu_si512(row_max + x, m);
            }
            int32_t *out = pooled + ((size_t)c * out_h + oy) * out_w;
            int ox = 0;
            if (stride_w == 2 && pad_w == 0 && width >= kernel_w && (kernel_w == 2 || kernel_w == 3)) {
                int inside = (width - kernel_w) / 2 + 1;
                inside = inside < out_w ? inside : out_w;
                for (; ox < inside; ox += 16) {
                    const __mmask16 lanes = inside - ox >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (inside - ox)) - 1);
                    const int32_t *at = row_max + 2 * ox;
                    const __m512i a = _mm512_loadu_si512(at), next = _mm512_loadu_si512(at + 16);
                    __m512i m = _mm512_max_epi32(_mm512_permutex2var_epi32(a, even, next), _mm512_permutex2var_epi32(a, odd, next));
                    if (kernel_w == 3)
                        m = _mm512_max_epi32(m, _mm512_permutex2var_epi32(_mm512_loadu_si512(at + 2), even, _mm512_loadu_si512(at + 18)));
                    _mm512_mask_storeu_epi32(out + ox, lanes, _mm512_sub_epi32(m, biases));
                }
                ox = inside;
            }
            pool_row_windows(row_max, width, ox, out_w, kernel_w, stride_w, pad_w, b, out);
        }
    }
    if (largest > statistics->largest) statistics->largest = largest;
    statistics->saturated += saturated;
}

BMQ_AVX2
static void avx2_max_pool_accumulators(const int32_t *sums, int channels, int height, int width, size_t channel_stride, int sum_stride,
                                       const int32_t *bias, int shift, int32_t low, int32_t high, int signed_output, int kernel_h,
                                       int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, int out_h, int out_w,
                                       int32_t *pooled, int32_t *row_max, bmq_requantize_statistics *statistics) {
    max_pool_accumulators(sums, channels, height, width, channel_stride, sum_stride, bias, shift, low, high, signed_output, kernel_h,
                          kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w, pooled, row_max, statistics);
}
#endif

void bmq_requantize_max_pool_packed(const int32_t *sums, int channels, int height, int width, size_t channel_stride, int sum_stride,
                                    const int32_t *bias, int shift, int32_t low, int32_t high, int signed_output, int32_t offset,
                                    int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, int out_h, int out_w,
                                    uint8_t *packed, int out_pad_h, int out_pad_w, bmq_requantize_statistics *statistics,
                                    int32_t *scratch) {
    int32_t *pooled = scratch, *row_max = scratch + (size_t)channels * out_h * out_w, *values = row_max + width + 48;
#if BMQ_X86
    if (wide_vectors() && stride_w == 2 && pad_w == 0 &&
        avx512_max_pool_narrow_rows(sums, channels, height, width, channel_stride, sum_stride, bias, shift, low, high, signed_output,
                                    kernel_h, kernel_w, stride_h, pad_h, out_h, out_w, pooled, statistics)) {
    } else if (wide_vectors())
        avx512_max_pool_accumulators(sums, channels, height, width, channel_stride, sum_stride, bias, shift, low, high, signed_output,
                                     kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w, pooled, row_max, statistics);
    else if (bmq_dot_units() & BMQ_DOT_AVX2)
        avx2_max_pool_accumulators(sums, channels, height, width, channel_stride, sum_stride, bias, shift, low, high, signed_output,
                                   kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w, pooled, row_max, statistics);
    else
#endif
        max_pool_accumulators(sums, channels, height, width, channel_stride, sum_stride, bias, shift, low, high, signed_output, kernel_h,
                              kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w, pooled, row_max, statistics);
    // The pooled values' own statistics are not the layer's.
    bmq_requantize_statistics pooled_statistics = {0, 0};
    bmq_requantize_packed(pooled, channels, out_h, out_w, (size_t)out_h * out_w, out_w, bias, shift, low, high, signed_output, offset,
                          packed, out_pad_h, out_pad_w, &pooled_statistics, values);
}

void bmq_relu_packed(uint8_t *bytes, size_t count, uint8_t zero) {
    for (size_t i = 0; i < count; i++) bytes[i] = bytes[i] > zero ? bytes[i] : zero;
}

void bmq_pack_packed_patches(const uint8_t *packed, int channels, int padded_h, int padded_w, int kernel_h, int kernel_w,
                             int stride_h, int stride_w, int dilation_h, int dilation_w, int out_h, int out_w, int row_groups,
                             int columns_padded, uint8_t *patches) {
    const int rows = channels * kernel_h * kernel_w, taps = kernel_h * kernel_w;
    const size_t row_step = (size_t)stride_h * padded_w * 4;
    zero_patch_padding(patches, row_groups, out_h * out_w, columns_padded);
    for (int g = 0; g < row_groups; g++) {
        const uint8_t *first[4];
        const size_t row_steps[4] = {row_step, row_step, row_step, row_step};
        for (int j = 0; j < 4; j++) {
            const int r = 4 * g + j;
            if (r < rows) {
                const int c = r / taps, ky = r % taps / kernel_w, kx = r % kernel_w;
                first[j] = packed + (((size_t)(c / 4) * padded_h + (size_t)ky * dilation_h) * padded_w + (size_t)kx * dilation_w) * 4 + c % 4;
            } else {
                // Past the kernel's rows: a copy of the group's first row, which zero weights meet.
                first[j] = first[0];
            }
        }
        pack_patch_group(first, row_steps, out_h, out_w, 4 * stride_w, (uint32_t *)(patches + (size_t)g * columns_padded * 4));
    }
}

// One input's term of a sum: v scaled by 2^-shift, rounding half up (shift > 0), or by 2^-shift exactly.
static inline __attribute__((always_inline)) int32_t sum_term(int32_t v, int32_t shift) {
    return shift > 0 ? (v >> shift) + ((v >> (shift - 1)) & 1) : v * ((int32_t)1 << (shift < 0 ? -shift : 0));
}

// A sum's output byte, saturated, with the row's largest magnitude and its count of saturations
// (those at or above `counts_below`).
static inline __attribute__((always_inline)) uint8_t saturated_cell(int32_t total, int32_t low, int32_t high, int32_t counts_below,
                                                                    int32_t out_offset, int32_t *largest, int32_t *saturated) {
    const int32_t magnitude = total < 0 ? -total : total;
    *largest = magnitude > *largest ? magnitude : *largest;
    const int32_t clamped = total < low ? low : total > high ? high : total;
    *saturated += clamped != total && total >= counts_below;
    return (uint8_t)(clamped + out_offset);
}

// Each row of four-byte cells of the inputs, aligned and added in 32 bits (the caller proves the
// totals fit), saturated into the output's row.
static inline __attribute__((always_inline))
void sum_packed_image(const uint8_t *const *inputs, const size_t *input_skips, const int *input_widths, const int32_t *offsets,
                      const int *shifts, int input_count, int groups, int height, int width, int32_t low, int32_t high,
                      int signed_output, int32_t out_offset, uint8_t *y, int out_pad_h, int out_pad_w, const int *input_heights,
                      bmq_requantize_statistics *statistics, int32_t *totals) {
    const int values = 4 * width, out_w = width + 2 * out_pad_w, out_h = height + 2 * out_pad_h;
    const int32_t counts_below = signed_output ? INT32_MIN : 1;
    int32_t largest = 0;
    int64_t saturated = 0;
    for (int g = 0; g < groups; g++) {
        for (int row = 0; row < height; row++) {
            uint8_t *restrict out = y + (((size_t)g * out_h + row + out_pad_h) * out_w + out_pad_w) * 4;
            if (input_count == 2) {
                // The common residual sum: both terms and the saturation in one pass, no totals row.
                const uint8_t *restrict a = inputs[0] + input_skips[0] + (((size_t)g * input_heights[0] + row) * input_widths[0]) * 4;
                const uint8_t *restrict b = inputs[1] + input_skips[1] + (((size_t)g * input_heights[1] + row) * input_widths[1]) * 4;
                int32_t row_largest = largest, row_saturated = 0;
                BMQ_SHORT_LOOP for (int i = 0; i < values; i++) {
                    const int32_t total = sum_term((int32_t)a[i] - offsets[0], shifts[0]) + sum_term((int32_t)b[i] - offsets[1], shifts[1]);
                    out[i] = saturated_cell(total, low, high, counts_below, out_offset, &row_largest, &row_saturated);
                }
                largest = row_largest;
                saturated += row_saturated;
                continue;
            }
            for (int k = 0; k < input_count; k++) {
                const uint8_t *restrict x = inputs[k] + input_skips[k] + (((size_t)g * input_heights[k] + row) * input_widths[k]) * 4;
                const int32_t offset = offsets[k], shift = shifts[k];
                if (k == 0) BMQ_SHORT_LOOP for (int i = 0; i < values; i++) totals[i] = sum_term((int32_t)x[i] - offset, shift);
                else BMQ_SHORT_LOOP for (int i = 0; i < values; i++) totals[i] += sum_term((int32_t)x[i] - offset, shift);
            }
            int32_t row_largest = largest, row_saturated = 0;
            BMQ_SHORT_LOOP for (int i = 0; i < values; i++)
                out[i] = saturated_cell(totals[i], low, high, counts_below, out_offset, &row_largest, &row_saturated);
            largest = row_largest;
            saturated += row_saturated;
        }
    }
    if (largest > statistics->largest) statistics->largest = largest;
    statistics->saturated += saturated;
}

#if BMQ_X86
// `sum_packed_image` built for one unit's vectors.
#define BMQ_SUM_PACKED_BUILD(NAME, TARGET)                                                                             \
    TARGET static void NAME(const uint8_t *const *inputs, const size_t *input_skips, const int *input_widths,           \
                            const int32_t *offsets, const int *shifts, int input_count, int groups, int height,         \
                            int width, int32_t low, int32_t high, int signed_output, int32_t out_offset, uint8_t *y,    \
                            int out_pad_h, int out_pad_w, const int *input_heights,                                    \
                            bmq_requantize_statistics *statistics, int32_t *totals) {                                  \
        sum_packed_image(inputs, input_skips, input_widths, offsets, shifts, input_count, groups, height, width, low,   \
                         high, signed_output, out_offset, y, out_pad_h, out_pad_w, input_heights, statistics, totals); \
    }
BMQ_SUM_PACKED_BUILD(avx2_sum_packed, BMQ_AVX2)
BMQ_SUM_PACKED_BUILD(avx512_sum_packed, BMQ_AVX512_WIDE)
#endif

void bmq_sum_packed(const uint8_t *const *inputs, const int *pads_h, const int *pads_w, const int32_t *offsets, const int *shifts,
                    int input_count, int channels, int height, int width, int32_t low, int32_t high, int signed_output,
                    int32_t out_offset, uint8_t *y, int out_pad_h, int out_pad_w, bmq_requantize_statistics *statistics,
                    int32_t *totals) {
    size_t skips[8];
    int widths[8], heights[8];
    for (int k = 0; k < input_count && k < 8; k++) {
        widths[k] = width + 2 * pads_w[k];
        heights[k] = height + 2 * pads_h[k];
        skips[k] = ((size_t)pads_h[k] * widths[k] + pads_w[k]) * 4;
    }
    const int groups = (channels + 3) / 4;
#if BMQ_X86
    if (wide_vectors()) {
        avx512_sum_packed(inputs, skips, widths, offsets, shifts, input_count, groups, height, width, low, high, signed_output, out_offset,
                          y, out_pad_h, out_pad_w, heights, statistics, totals);
        return;
    }
    if (bmq_dot_units() & BMQ_DOT_AVX2) {
        avx2_sum_packed(inputs, skips, widths, offsets, shifts, input_count, groups, height, width, low, high, signed_output, out_offset, y,
                        out_pad_h, out_pad_w, heights, statistics, totals);
        return;
    }
#endif
    sum_packed_image(inputs, skips, widths, offsets, shifts, input_count, groups, height, width, low, high, signed_output, out_offset, y,
                     out_pad_h, out_pad_w, heights, statistics, totals);
}

// One output row's window sums of squares: columns[i] = the sum over the window's rows of
// (cell - offset)², then window[i] = the sum of `size` columns 4 apart (one channel group's).
// Integer sums, so any order gives the same values. (No vectorize pragma: with `size` a constant
// the compiler vectorizes these loops itself; with a variable size it cannot, and would warn.)
static inline __attribute__((always_inline))
void lrn_window_sums(const uint8_t *first, size_t row_bytes, int size, int reach, int values, int32_t offset,
                     int32_t *restrict columns, int32_t *restrict window) {
    for (int i = 0; i < reach; i++) {
        int32_t sum = 0;
        for (int dy = 0; dy < size; dy++) {
            const int32_t v = (int32_t)first[dy * row_bytes + i] - offset;
            sum += v * v;
        }
        columns[i] = sum;
    }
    for (int i = 0; i < values; i++) {
        int32_t sum = columns[i];
        for (int dx = 1; dx < size; dx++) sum += columns[i + 4 * dx];
        window[i] = sum;
    }
}

// The LRN step's table, shifts, output range and byte offset.
typedef struct {
    const int32_t *table;
    int table_shift, value_shift;
    int32_t low, high, offset;
} lrn_terms;

// Values first..<values of one packed output row: each factor interpolated in the table at the
// value's window sum of squares, the product rounded, saturated and offset back into a byte, as
// `normalize_image` computes them.
static inline __attribute__((always_inline))
void lrn_finish_values(const int32_t *restrict window, const uint8_t *restrict centre, uint8_t *restrict out, int first, int values,
                       const lrn_terms *t, int64_t *largest, int64_t *saturated) {
    for (int i = first; i < values; i++) {
        const int32_t squares = window[i];
        *largest = squares > *largest ? squares : *largest;
        const int64_t scaled = lrn_scaled(squares, (int64_t)centre[i] - t->offset, t->table, t->table_shift, t->value_shift);
        const int64_t clamped = scaled < t->low ? t->low : scaled > t->high ? t->high : scaled;
        *saturated += clamped != scaled;
        out[i] = (uint8_t)(clamped + t->offset);
    }
}

static inline __attribute__((always_inline))
void lrn_finish_row(const int32_t *restrict window, const uint8_t *restrict centre, uint8_t *restrict out, int values,
                    const lrn_terms *t, int64_t *largest, int64_t *saturated) {
    lrn_finish_values(window, centre, out, 0, values, t, largest, saturated);
}

#if BMQ_X86
// The same with AVX-512, sixteen values at a time in 32-bit lanes. With table_shift <= 14 the
// factor fits 31 bits (entries are below 2^17), and the 40-bit product v x factor is never formed:
// with A = v x (factor >> 16) and B = v x (factor & 0xFFFF) + 2^(15 + table_shift), the product
// plus the rounding half is 2^16 A + B, so its shift by 16 + table_shift is
// (A + (B >> 16)) >> table_shift (B's low 16 bits cannot reach the quotient). |v| <= 255 keeps A
// and B within 31 bits. One 64-bit gather element fetches a value's two adjacent table entries
// (256-bit gathers measured faster than 512-bit ones on Zen 5); one permute splits them.
static inline __attribute__((always_inline)) BMQ_AVX512_WIDE
void avx512_lrn_finish_row(const int32_t *restrict window, const uint8_t *restrict centre, uint8_t *restrict out, int values,
                           const lrn_terms *t, int64_t *largest, int64_t *saturated) {
    int i = 0;
    if (t->table_shift <= 14 && t->value_shift == t->table_shift + 16) {
        const __m128i table_shift = _mm_cvtsi32_si128(t->table_shift);
        const __m512i remainder_mask = _mm512_set1_epi32((1 << t->table_shift) - 1), low_bits = _mm512_set1_epi32(0xFFFF);
        const __m512i half = _mm512_set1_epi32(1 << (15 + t->table_shift)), offsets = _mm512_set1_epi32(t->offset);
        const __m512i lows = _mm512_set1_epi32(t->low), highs = _mm512_set1_epi32(t->high);
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
        const long long *pairs = (const long long *)t->table;
        __m512i most = _mm512_setzero_si512();
        int64_t saturations = 0;
        for (; i + 16 <= values; i += 16) {
            const __m512i squares = _mm512_loadu_si512((const void *)(window + i));
            most = _mm512_max_epi32(most, squares);
            const __m512i entries = _mm512_sra_epi32(squares, table_shift), remainders = _mm512_and_si512(squares, remainder_mask);
            __m512i gathered[2];
            for (int h = 0; h < 2; h++) {
                const __m256i entry = avx512_half(entries, h);
                gathered[h] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_i32gather_epi64(pairs, _mm256_castsi256_si128(entry), 4)),
                                                 _mm256_i32gather_epi64(pairs, _mm256_extracti128_si256(entry, 1), 4), 1);
            }
            // Little-endian: a pair's low half is table[entry], its high half table[entry + 1].
            const __m512i below = _mm512_permutex2var_epi32(gathered[0], even, gathered[1]);
            const __m512i above = _mm512_permutex2var_epi32(gathered[0], odd, gathered[1]);
            const __m512i factor = _mm512_add_epi32(_mm512_sll_epi32(below, table_shift),
                                                    _mm512_mullo_epi32(_mm512_sub_epi32(above, below), remainders));
            const __m512i value = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(centre + i))), offsets);
            const __m512i a = _mm512_mullo_epi32(value, _mm512_srai_epi32(factor, 16));
            const __m512i b = _mm512_add_epi32(_mm512_mullo_epi32(value, _mm512_and_si512(factor, low_bits)), half);
            const __m512i scaled = _mm512_sra_epi32(_mm512_add_epi32(a, _mm512_srai_epi32(b, 16)), table_shift);
            const __m512i clamped = _mm512_min_epi32(_mm512_max_epi32(scaled, lows), highs);
            saturations += __builtin_popcount(_mm512_cmpneq_epi32_mask(clamped, scaled));
            _mm_storeu_si128((__m128i *)(out + i), _mm512_cvtepi32_epi8(_mm512_add_epi32(clamped, offsets)));
        }
        const int64_t seen = _mm512_reduce_max_epi32(most);
        if (seen > *largest) *largest = seen;
        *saturated += saturations;
    }
    lrn_finish_values(window, centre, out, i, values, t, largest, saturated);
}
#endif

// Within-channel LRN on one channel-packed image whose padding (value 0) covers the window's
// reach, so no window needs clipping: per output row, the squares of its window's rows summed
// column by column, then across the window's columns; `finish` makes the row's bytes.
static inline __attribute__((always_inline))
void normalize_packed_image(const uint8_t *x, int groups, int height, int width, int in_pad_h, int in_pad_w, int local_size,
                            const lrn_terms *terms, uint8_t *y, int out_pad_h, int out_pad_w, bmq_requantize_statistics *statistics,
                            int32_t *restrict columns,
                            void (*finish)(const int32_t *, const uint8_t *, uint8_t *, int, const lrn_terms *, int64_t *, int64_t *)) {
    const int32_t offset = terms->offset;
    const int half = (local_size - 1) / 2;
    const int in_w = width + 2 * in_pad_w, in_h = height + 2 * in_pad_h, out_w = width + 2 * out_pad_w, out_h = height + 2 * out_pad_h;
    const int reach = 4 * (width + 2 * half), values = 4 * width;
    int32_t *restrict window = columns + reach;
    int64_t largest = statistics->largest, saturated = 0;
    for (int g = 0; g < groups; g++) {
        const uint8_t *plane = x + (size_t)g * in_h * in_w * 4;
        for (int row = 0; row < height; row++) {
            // Cells from column -half on, rows row - half ... row + half.
            const uint8_t *first = plane + ((size_t)(row + in_pad_h - half) * in_w + in_pad_w - half) * 4;
            // The common sizes as constants, so each sum is one vector pass with its terms in registers.
            const size_t row_bytes = (size_t)in_w * 4;
            switch (local_size) {
            case 3: lrn_window_sums(first, row_bytes, 3, reach, values, offset, columns, window); break;
            case 5: lrn_window_sums(first, row_bytes, 5, reach, values, offset, columns, window); break;
            default: lrn_window_sums(first, row_bytes, local_size, reach, values, offset, columns, window);
            }
            const uint8_t *restrict centre = plane + ((size_t)(row + in_pad_h) * in_w + in_pad_w) * 4;
            uint8_t *restrict out = y + (((size_t)g * out_h + row + out_pad_h) * out_w + out_pad_w) * 4;
            finish(window, centre, out, values, terms, &largest, &saturated);
        }
    }
    statistics->largest = largest;
    statistics->saturated += saturated;
}

#if BMQ_X86
BMQ_AVX2
static void avx2_normalize_packed(const uint8_t *x, int groups, int height, int width, int in_pad_h, int in_pad_w, int local_size,
                                  const lrn_terms *terms, uint8_t *y, int out_pad_h, int out_pad_w, bmq_requantize_statistics *statistics,
                                  int32_t *columns) {
    normalize_packed_image(x, groups, height, width, in_pad_h, in_pad_w, local_size, terms, y, out_pad_h, out_pad_w, statistics, columns,
                           lrn_finish_row);
}

BMQ_AVX512_WIDE
static void avx512_normalize_packed(const uint8_t *x, int groups, int height, int width, int in_pad_h, int in_pad_w, int local_size,
                                    const lrn_terms *terms, uint8_t *y, int out_pad_h, int out_pad_w, bmq_requantize_statistics *statistics,
                                    int32_t *columns) {
    normalize_packed_image(x, groups, height, width, in_pad_h, in_pad_w, local_size, terms, y, out_pad_h, out_pad_w, statistics, columns,
                           avx512_lrn_finish_row);
}
#endif

void bmq_normalize_packed(const uint8_t *x, int channels, int height, int width, int in_pad_h, int in_pad_w, int local_size,
                          const int32_t *table, int table_shift, int value_shift, int32_t low, int32_t high, int32_t offset,
                          uint8_t *y, int out_pad_h, int out_pad_w, bmq_requantize_statistics *statistics, int32_t *columns) {
    const int groups = (channels + 3) / 4;
    const lrn_terms terms = {table, table_shift, value_shift, low, high, offset};
#if BMQ_X86
    if (wide_vectors()) {
        avx512_normalize_packed(x, groups, height, width, in_pad_h, in_pad_w, local_size, &terms, y, out_pad_h, out_pad_w, statistics, columns);
        return;
    }
    if (bmq_dot_units() & BMQ_DOT_AVX2) {
        avx2_normalize_packed(x, groups, height, width, in_pad_h, in_pad_w, local_size, &terms, y, out_pad_h, out_pad_w, statistics, columns);
        return;
    }
#endif
    normalize_packed_image(x, groups, height, width, in_pad_h, in_pad_w, local_size, &terms, y, out_pad_h, out_pad_w, statistics, columns,
                           lrn_finish_row);
}

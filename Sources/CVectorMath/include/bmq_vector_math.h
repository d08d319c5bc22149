#ifndef BMQ_VECTOR_MATH_H
#define BMQ_VECTOR_MATH_H

// Swift's SIMD squareRoot() takes each lane's root on its own, through the C library's sqrtf (which
// may set errno), so it never becomes a vector instruction. This does (vsqrtps: IEEE-exact roots,
// the same bits as sqrtf's). Swift imports the vector type as SIMD8<Float>.

typedef float bmq_float8 __attribute__((ext_vector_type(8)));

/// The square root of each lane.
static inline bmq_float8 bmq_square_root8(bmq_float8 x) { return __builtin_elementwise_sqrt(x); }

#endif

// The functions are static inline in the header; a C target needs one source file.
#include "bmq_vector_math.h"

#ifndef COPENBLAS_SHIM_H
#define COPENBLAS_SHIM_H
#include <cblas.h>

/// OpenBLAS's thread-count controls, declared here so Swift sees them whatever cblas.h exposes.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#endif

import COpenBLAS

/// The one place OpenBLAS is called from.
enum BLAS {
    /// C[m x n] = A[m x k] * B[k x n] (each optionally transposed as stored), row-major; with
    /// `accumulate`, C += A * B.
    static func gemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
                     a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        cblas_sgemm(CblasRowMajor,
                    transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), 1,
                    a, Int32(transposeA ? m : k),
                    b, Int32(transposeB ? k : n),
                    accumulate ? 1 : 0, c, Int32(n))
    }

    /// y[m] = A[m x k] x[k] (A row-major, or A^T when `transpose`, A then stored [k x m] with
    /// `lda` = its row length), beta = 0.
    static func gemv(transpose: Bool, m: Int, k: Int, a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        if transpose {
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(m), 1, a, Int32(lda), x, 1, 0, y, 1)
        } else {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(k), 1, a, Int32(lda), x, 1, 0, y, 1)
        }
    }

    /// C[n x n] += A A^T (A is [n x k], lda = k), or A^T A when `transpose` (A is [k x n]); upper triangle only.
    static func syrkAccumulate(transpose: Bool, n: Int, k: Int, a: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
        cblas_ssyrk(CblasRowMajor, CblasUpper, transpose ? CblasTrans : CblasNoTrans, Int32(n), Int32(k), 1,
                    a, Int32(transpose ? n : k), 1, c, Int32(n))
    }

    /// Sets how many threads OpenBLAS may use for one call.
    static func setThreads(_ count: Int) { openblas_set_num_threads(Int32(count)) }
}

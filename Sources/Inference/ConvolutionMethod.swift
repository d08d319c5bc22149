import Foundation

/// How the engine computes convolutions.
public enum ConvolutionMethod: String, Sendable, CaseIterable {
    /// The register kernels of `SIMDKernels`: no column matrix, fastest where the CPU has them.
    case direct
    /// im2col + OpenBLAS `sgemm`, Caffe's own method; runs anywhere.
    case gemm

    /// The method in use: `direct` where this CPU runs the register kernels, unless set otherwise.
    public static var current: ConvolutionMethod {
        get { override ?? (VectorUnit.available ? .direct : .gemm) }
        set { override = newValue == .direct && !VectorUnit.available ? .gemm : newValue }
    }

    nonisolated(unsafe) private static var override: ConvolutionMethod?
}

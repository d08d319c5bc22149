import Foundation

/// How the engine computes convolutions.
public enum ConvolutionMethod: String, Sendable, CaseIterable {
    /// The register kernels of `SIMDKernels`: no column matrix, fastest where the CPU has them.
    case direct
    /// im2col + OpenBLAS `sgemm`, Caffe's own method; runs anywhere.
    case gemm

    /// `direct` where this CPU runs the register kernels, `gemm` elsewhere.
    public static var preferred: ConvolutionMethod { VectorUnit.available ? .direct : .gemm }
}

/// How a network runs, passed as a value to each ``Network`` (never process-wide state).
public struct EngineOptions: Sendable, Equatable {
    /// How convolutions are computed; `direct` becomes `gemm` where the CPU lacks the register kernels.
    public var convolution: ConvolutionMethod {
        didSet { if convolution == .direct, !VectorUnit.available { convolution = .gemm } }
    }
    /// OpenBLAS threads per GEMM call. The engine spreads batches over the cores itself, so one
    /// thread per call is the default.
    public var blasThreads: Int

    public init(convolution: ConvolutionMethod = .preferred, blasThreads: Int = 1) {
        self.convolution = convolution == .direct && !VectorUnit.available ? .gemm : convolution
        self.blasThreads = max(1, blasThreads)
    }

    /// The preferred convolution method and single-threaded BLAS calls.
    public static let `default` = EngineOptions()
}

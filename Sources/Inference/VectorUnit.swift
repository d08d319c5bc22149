import Foundation

/// The vector instructions `SIMDKernels` (convolution and pooling) is compiled for.
public enum VectorUnit {
    /// Whether the CPU executes them (AVX2 and FMA on x86-64; always on AArch64), and the OS's
    /// Swift runtime has what the kernels use.
    public static let available: Bool = {
        guard #available(macOS 26, *) else { return false }
        #if arch(x86_64)
        return cpuFlags.contains("avx2") && cpuFlags.contains("fma")
        #else
        return true
        #endif
    }()

    /// Whether the kernels run their AVX-512 build (vectors of sixteen floats in one register): the
    /// CPU has AVX-512 F, BW, VL and DQ, and `BMQ_VECTOR_UNIT` does not say `avx2` (tests set it to
    /// run the AVX2 build on such a CPU). Either build gives the same bits.
    public static let wideVectors: Bool = {
        guard available, ProcessInfo.processInfo.environment["BMQ_VECTOR_UNIT"] != "avx2" else { return false }
        #if arch(x86_64)
        return ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(cpuFlags.contains)
        #else
        return false
        #endif
    }()

    #if arch(x86_64)
    /// The CPU feature names the OS reports (Linux: /proc/cpuinfo's flags line; macOS: sysctl),
    /// read once.
    private static let cpuFlags: Set<String> = {
        #if os(Linux)
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
        return Set(line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }).map(String.init))
        #elseif os(macOS)
        var flags: Set<String> = []
        for (name, key) in [("avx2", "hw.optional.avx2_0"), ("fma", "hw.optional.fma")] {
            var value: Int32 = 0
            var size = MemoryLayout<Int32>.size
            if sysctlbyname(key, &value, &size, nil, 0) == 0, value != 0 { flags.insert(name) }
        }
        return flags
        #else
        return []
        #endif
    }()
    #endif
}

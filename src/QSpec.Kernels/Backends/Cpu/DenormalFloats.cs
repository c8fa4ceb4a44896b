using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// Whether this machine and thread compute with denormal floats exactly and at full speed: the condition of the W4A16
/// kernels' denormal form (<see cref="LinearW4A16Nibble"/> on AVX-512, <see cref="DenormalNibbles"/> on AVX2), which
/// reads a masked nibble u at bits 4j..4j+3 as the denormal float u·2^(4j − 149).
/// </summary>
/// <remarks>
/// Two things can break it. A thread whose MXCSR has DAZ set (denormals-are-zero, which some native libraries set for
/// speed) reads every such weight as zero: <see cref="KeptOnThisThread"/> checks the calling thread, a few
/// nanoseconds, and the kernel checks it on every thread that runs a part of a call. And some processors take a
/// microcode assist per denormal operand (tens to hundreds of cycles): <see cref="Enabled"/> times FMA chains with a
/// denormal operand against a normal one once per process. On the Zen 4 VM both ran at the same speed (docs/results.md).
/// </remarks>
internal static class DenormalFloats
{
    // Not readonly: the JIT would fold a readonly static's product at compile time, without the thread's MXCSR.
    // The denormal weight is kept as its bits and made a float at run time (Weight): a float constant 15·2^−149 in
    // compiled code is flushed to 0 when the method is compiled on a thread with DAZ set (reproduced: a class
    // initialised on such a thread kept s_weight = 0, and every later check in the process read "flushed").
    private static int s_weightBits = 0xF; // 15·2^−149, the largest nibble at j = 0
    private static float s_scale = MathF.ScaleB(1f, 80);
    private static float s_expected = MathF.ScaleB(15f, -69);
    private static float s_sink;

    /// <summary>The slowdown of an FMA chain with a denormal operand past which the denormal form is not used: 1.25.</summary>
    public const double MaxSlowdown = 1.25;

    /// <summary>
    /// Whether the W4A16 kernels use the denormal form by default: AVX-512 or AVX2 + FMA, denormals kept on the thread
    /// that first asks, and FMAs on denormal operands at most <see cref="MaxSlowdown"/> slower (measured once, ~1 ms, at
    /// the kernel's vector width).
    /// </summary>
    public static bool Enabled { get; } = (CpuPaths.HasAvx512 || CpuPaths.HasAvx2) && KeptOnThisThread() && MeasuredSlowdown() <= MaxSlowdown;

    /// <summary>
    /// A/B benchmarks only: forces the form of every W4A16 call in the process (null: each backend's own choice).
    /// </summary>
    internal static bool? Override;

    /// <summary>Whether a denormal operand is read as itself on the calling thread (DAZ clear).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static bool KeptOnThisThread() => Weight() * s_scale == s_expected;

    /// <summary>15·2^−149 from its bits, at run time on the calling thread (a register move: DAZ does not touch it).</summary>
    private static float Weight() => BitConverter.Int32BitsToSingle(Volatile.Read(ref s_weightBits));

    /// <summary>
    /// Time per step of FMA chains whose multiplicand is a denormal (the weights' form) over the same chains with a
    /// normal one: the fastest of five alternated rounds of each. The denormal chains run a tenth of the normal ones'
    /// steps: on a processor that takes an assist per denormal operand (an Intel Xeon guest measured 57-93×) the
    /// probe took 43 ms of every process's start-up at equal lengths, 8-12 ms now with its JIT; where denormals run at
    /// full speed a round is still ~10 µs, far above the timer's resolution.
    /// </summary>
    internal static double MeasuredSlowdown()
    {
        const int normalSteps = 20_000, denormalSteps = normalSteps / 10;
        Func<float, int, double> chains = CpuPaths.HasAvx512 ? (w, n) => Chains(Vector512.Create(w), n) : (w, n) => Chains(Vector256.Create(w), n);
        double bestDenormal = double.MaxValue, bestNormal = double.MaxValue;
        float weight = Weight();
        chains(weight, denormalSteps); chains(s_expected, normalSteps); // JIT and warm-up
        for (int round = 0; round < 5; round++)
        {
            bestDenormal = Math.Min(bestDenormal, chains(weight, denormalSteps) / denormalSteps);
            bestNormal = Math.Min(bestNormal, chains(s_expected, normalSteps) / normalSteps);
        }
        return bestDenormal / bestNormal;
    }

    /// <summary>Seconds of 8 independent chains acc = fma(x, w, acc) over <paramref name="steps"/> steps (the kernel's pattern).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static double Chains(Vector512<float> w, int steps)
    {
        var x = Vector512.Create(s_scale);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < steps; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(x, w, a0); a1 = Vector512.FusedMultiplyAdd(x, w, a1);
            a2 = Vector512.FusedMultiplyAdd(x, w, a2); a3 = Vector512.FusedMultiplyAdd(x, w, a3);
            a4 = Vector512.FusedMultiplyAdd(x, w, a4); a5 = Vector512.FusedMultiplyAdd(x, w, a5);
            a6 = Vector512.FusedMultiplyAdd(x, w, a6); a7 = Vector512.FusedMultiplyAdd(x, w, a7);
        }
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        s_sink = ((a0 + a1) + (a2 + a3) + (a4 + a5) + (a6 + a7)).ToScalar();
        return seconds;
    }

    /// <summary>The same chains at 256 bits (the AVX2 kernel's width).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static double Chains(Vector256<float> w, int steps)
    {
        var x = Vector256.Create(s_scale);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < steps; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(x, w, a0); a1 = Vector256.FusedMultiplyAdd(x, w, a1);
            a2 = Vector256.FusedMultiplyAdd(x, w, a2); a3 = Vector256.FusedMultiplyAdd(x, w, a3);
            a4 = Vector256.FusedMultiplyAdd(x, w, a4); a5 = Vector256.FusedMultiplyAdd(x, w, a5);
            a6 = Vector256.FusedMultiplyAdd(x, w, a6); a7 = Vector256.FusedMultiplyAdd(x, w, a7);
        }
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        s_sink = ((a0 + a1) + (a2 + a3) + (a4 + a5) + (a6 + a7)).ToScalar();
        return seconds;
    }
}

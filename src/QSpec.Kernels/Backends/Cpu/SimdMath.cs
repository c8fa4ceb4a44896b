using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// Fixed-order 256-bit helpers for the small ops. Each reduction's order depends only on the length, never on the
/// address or on neighbouring rows, which keeps the ops batch invariant. Callers check Vector256.IsHardwareAccelerated.
/// </summary>
internal static class SimdMath
{
    /// <summary>Σ a[i]·b[i]: two 8-lane FMA accumulators over 16-element steps, one 8-element step, then a scalar tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        ref float pa = ref MemoryMarshal.GetReference(a);
        ref float pb = ref MemoryMarshal.GetReference(b);
        int n = a.Length, i = 0;
        Vector256<float> s0 = default, s1 = default;
        for (; i + 16 <= n; i += 16)
        {
            s0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref pa, (nuint)i), Vector256.LoadUnsafe(ref pb, (nuint)i), s0);
            s1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref pa, (nuint)i + 8), Vector256.LoadUnsafe(ref pb, (nuint)i + 8), s1);
        }
        if (i + 8 <= n)
        {
            s0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref pa, (nuint)i), Vector256.LoadUnsafe(ref pb, (nuint)i), s0);
            i += 8;
        }
        float sum = Horizontal(s0 + s1);
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>Σ x[i] in the same fixed order as <see cref="Dot"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Sum(ReadOnlySpan<float> x)
    {
        ref float p = ref MemoryMarshal.GetReference(x);
        int n = x.Length, i = 0;
        Vector256<float> s0 = default, s1 = default;
        for (; i + 16 <= n; i += 16)
        {
            s0 += Vector256.LoadUnsafe(ref p, (nuint)i);
            s1 += Vector256.LoadUnsafe(ref p, (nuint)i + 8);
        }
        if (i + 8 <= n) { s0 += Vector256.LoadUnsafe(ref p, (nuint)i); i += 8; }
        float sum = Horizontal(s0 + s1);
        for (; i < n; i++) sum += x[i];
        return sum;
    }

    /// <summary>The largest element (finite inputs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Max(ReadOnlySpan<float> x)
    {
        ref float p = ref MemoryMarshal.GetReference(x);
        int i = 0;
        float max = float.NegativeInfinity;
        if (x.Length >= 8)
        {
            var m = Vector256.Create(float.NegativeInfinity);
            for (; i + 8 <= x.Length; i += 8) m = Vector256.Max(m, Vector256.LoadUnsafe(ref p, (nuint)i));
            for (int l = 0; l < 8; l++) max = MathF.Max(max, m.GetElement(l));
        }
        for (; i < x.Length; i++) max = MathF.Max(max, x[i]);
        return max;
    }

    /// <summary>y[i] += a · x[i] with one FMA per element.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Axpy(float a, ReadOnlySpan<float> x, Span<float> y)
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        var va = Vector256.Create(a);
        int i = 0;
        for (; i + 8 <= y.Length; i += 8)
            Vector256.FusedMultiplyAdd(va, Vector256.LoadUnsafe(ref px, (nuint)i), Vector256.LoadUnsafe(ref py, (nuint)i)).StoreUnsafe(ref py, (nuint)i);
        for (; i < y.Length; i++) y[i] = MathF.FusedMultiplyAdd(a, x[i], y[i]);
    }

    /// <summary>
    /// Applies <typeparamref name="TOp"/> to every element in place, the tail through a zero-padded vector, so each
    /// element gets the vector function's value wherever it sits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Map<TOp>(Span<float> x, ReadOnlySpan<float> other) where TOp : struct, IVectorMap
    {
        ref float p = ref MemoryMarshal.GetReference(x);
        ref float q = ref MemoryMarshal.GetReference(other);
        int i = 0;
        for (; i + 8 <= x.Length; i += 8)
            TOp.Apply(Vector256.LoadUnsafe(ref p, (nuint)i), Vector256.LoadUnsafe(ref q, (nuint)i)).StoreUnsafe(ref p, (nuint)i);
        if (i == x.Length) return;
        Span<float> a = stackalloc float[8], b = stackalloc float[8];
        a.Clear(); b.Clear();
        x[i..].CopyTo(a);
        other.Slice(i, x.Length - i).CopyTo(b);
        TOp.Apply(Vector256.Create(a), Vector256.Create(b)).CopyTo(a);
        a[..(x.Length - i)].CopyTo(x[i..]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Horizontal(Vector256<float> v)
    {
        var q = v.GetLower() + v.GetUpper();
        return (q.GetElement(0) + q.GetElement(1)) + (q.GetElement(2) + q.GetElement(3));
    }
}

/// <summary>An elementwise vector function of two inputs for <see cref="SimdMath.Map{TOp}"/>.</summary>
internal interface IVectorMap
{
    static abstract Vector256<float> Apply(Vector256<float> x, Vector256<float> other);
}

/// <summary>silu(x)·up = x / (1 + e^−x) · up.</summary>
internal struct SwiGluMap : IVectorMap
{
    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> up)
        => x / (Vector256<float>.One + Vector256.Exp(-x)) * up;
}

/// <summary>
/// A softmax weight e^x of x = score − max ≤ 0 (the second input is ignored), 0 below <see cref="FlushBelow"/>:
/// weights under 2^−64 are zero, so no weight, product or accumulator of the attention is a denormal.
/// </summary>
/// <remarks>
/// Why: processors that take a microcode assist per denormal operand or result (the Intel Xeon guest of 8 Dec 2026:
/// FMA chains 57-93× slower) ran a 2,000-position attention whose scores spread over ~100 (e^x from 1 down into the
/// denormals and below) 6.5× slower than one with close scores (`attnprobe 2000 64 32 4 22 180`: 4,130 against 637 µs
/// per layer; 631 with the flush). What it changes: the largest weight is e^0 (1, or 1 + 2^−23 from Vector256.Exp), so
/// the sum is at least 1 and a dropped weight is under 2^−64 of it; over fewer than 2^24 positions they add up to less
/// than 2^−40, far under half an ulp of the sum (2^−24).
/// </remarks>
internal struct SoftmaxExpMap : IVectorMap
{
    /// <summary>−64·ln 2: e^x below it is under 2^−64.</summary>
    public const float FlushBelow = -44.3614197f;

    public static Vector256<float> Apply(Vector256<float> x, Vector256<float> other)
    {
        var keep = Vector256.GreaterThanOrEqual(x, Vector256.Create(FlushBelow));
        // The exp of the clamped input, so that it never computes a denormal either; the flushed lanes are then zeroed.
        return Vector256.Exp(Vector256.Max(x, Vector256.Create(FlushBelow))) & keep;
    }
}

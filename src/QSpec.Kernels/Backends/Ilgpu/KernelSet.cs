using System.Reflection;
using ILGPU;
using ILGPU.Runtime;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// Every kernel of the ILGPU backend, compiled and loaded once per accelerator (on the default stream).
/// <see cref="EntryPoints"/> lists the same methods for ahead-of-time PTX compilation checks.
/// </summary>
internal sealed class KernelSet
{
    public KernelSet(Accelerator a)
    {
        LinearW4A16 = a.LoadStreamKernel<ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<float>, LinearShape>(LinearW4A16Kernel.Run);
        LinearW4A16Many = a.LoadStreamKernel<ArrayView<float>, MatrixSet, int, LinearShape>(LinearW4A16Kernel.RunMany);
        LinearW4A16SwiGlu = a.LoadStreamKernel<ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<float>, LinearShape>(LinearW4A16Kernel.RunSwiGlu);
        LinearW4A16Partial = a.LoadStreamKernel<ArrayView<float>, MatrixSet, KSplit, ArrayView<float>, LinearShape>(LinearW4A16Kernel.RunPartial);
        SplitKReduce = a.LoadAutoGroupedStreamKernel<Index2D, ArrayView<float>, MatrixSet, KSplit, int, int, int>(SplitKReduceKernel.Run);
        LinearIntMany = a.LoadStreamKernel<ArrayView<int>, ArrayView<float>, MatrixSet, int, LinearShape>(LinearIntKernel.RunMany);
        LinearIntSwiGlu = a.LoadStreamKernel<ArrayView<int>, ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<float>, LinearShape>(LinearIntKernel.RunSwiGlu);
        RmsNormQuantize = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, ArrayView<int>, ArrayView<float>, int, int>(RmsNormQuantizeKernel.Run);
        LinearF32 = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, LinearShape>(LinearF32Kernel.Run);
        LinearInt = a.LoadStreamKernel<ArrayView<int>, ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<float>, LinearShape>(LinearIntKernel.Run);
        LinearIntMma = a.LoadStreamKernel<ArrayView<int>, ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<float>, LinearShape>(LinearIntMmaKernel.Run);
        LinearIntMmaMany = a.LoadStreamKernel<ArrayView<int>, ArrayView<float>, MatrixSet, int, LinearShape>(LinearIntMmaKernel.RunMany);
        LinearIntMmaSwiGlu = a.LoadStreamKernel<ArrayView<int>, ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<float>, LinearShape>(LinearIntMmaKernel.RunSwiGlu);
        QuantizeActivations = a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>(ActivationQuantKernel.Run);
        RmsNorm = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(RmsNormKernel.Run);
        Rope = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int>(RopeKernel.Run);
        StoreF32 = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, F32Cache, F32Cache, long, long>(KvCacheKernels.Store);
        StoreF16 = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, F16Cache, F16Cache, long, long>(KvCacheKernels.Store);
        AttentionF32 = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, KvSlots<F32Cache>, ArrayView<float>, ArrayView<float>, AttentionShape>(AttentionKernel.Run);
        AttentionF16 = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, KvSlots<F16Cache>, ArrayView<float>, ArrayView<float>, AttentionShape>(AttentionKernel.Run);
        Embedding = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int>(ElementwiseKernels.Embedding);
        SwiGlu = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.SwiGlu);
        Add = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.Add);
        HadamardStage = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, HadamardStage>(HadamardKernel.Stage);
        Argmax = a.LoadStreamKernel<ArrayView<float>, long, int, ArrayView<int>>(ArgmaxKernel.Run);
    }

    public Action<KernelConfig, ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<float>, LinearShape> LinearW4A16 { get; }
    public Action<KernelConfig, ArrayView<float>, MatrixSet, int, LinearShape> LinearW4A16Many { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<float>, LinearShape> LinearW4A16SwiGlu { get; }
    public Action<KernelConfig, ArrayView<float>, MatrixSet, KSplit, ArrayView<float>, LinearShape> LinearW4A16Partial { get; }
    public Action<Index2D, ArrayView<float>, MatrixSet, KSplit, int, int, int> SplitKReduce { get; }
    public Action<KernelConfig, ArrayView<int>, ArrayView<float>, MatrixSet, int, LinearShape> LinearIntMany { get; }
    public Action<KernelConfig, ArrayView<int>, ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<float>, LinearShape> LinearIntSwiGlu { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, ArrayView<int>, ArrayView<float>, int, int> RmsNormQuantize { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, LinearShape> LinearF32 { get; }
    public Action<KernelConfig, ArrayView<int>, ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<float>, LinearShape> LinearInt { get; }
    public Action<KernelConfig, ArrayView<int>, ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<float>, LinearShape> LinearIntMma { get; }
    public Action<KernelConfig, ArrayView<int>, ArrayView<float>, MatrixSet, int, LinearShape> LinearIntMmaMany { get; }
    public Action<KernelConfig, ArrayView<int>, ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<float>, LinearShape> LinearIntMmaSwiGlu { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int> QuantizeActivations { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float> RmsNorm { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int> Rope { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, F32Cache, F32Cache, long, long> StoreF32 { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, F16Cache, F16Cache, long, long> StoreF16 { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, KvSlots<F32Cache>, ArrayView<float>, ArrayView<float>, AttentionShape> AttentionF32 { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, KvSlots<F16Cache>, ArrayView<float>, ArrayView<float>, AttentionShape> AttentionF16 { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int> Embedding { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>> SwiGlu { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>> Add { get; }
    public Action<Index1D, ArrayView<float>, HadamardStage> HadamardStage { get; }
    public Action<KernelConfig, ArrayView<float>, long, int, ArrayView<int>> Argmax { get; }

    /// <summary>One kernel entry point: name, method (generic ones closed) and whether it is explicitly grouped.</summary>
    internal readonly record struct EntryPoint(string Name, MethodInfo Method, bool ExplicitlyGrouped, bool UsesDp4a, bool UsesMma = false);

    /// <summary>All kernel methods as loaded above.</summary>
    internal static IReadOnlyList<EntryPoint> EntryPoints { get; } =
    [
        Explicit(typeof(LinearW4A16Kernel), nameof(LinearW4A16Kernel.Run)),
        Explicit(typeof(LinearW4A16Kernel), nameof(LinearW4A16Kernel.RunMany)),
        Explicit(typeof(LinearW4A16Kernel), nameof(LinearW4A16Kernel.RunSwiGlu)),
        Explicit(typeof(LinearW4A16Kernel), nameof(LinearW4A16Kernel.RunPartial)),
        Implicit(typeof(SplitKReduceKernel), nameof(SplitKReduceKernel.Run)),
        Explicit(typeof(LinearF32Kernel), nameof(LinearF32Kernel.Run)),
        Explicit(typeof(LinearIntKernel), nameof(LinearIntKernel.Run)) with { UsesDp4a = true },
        Explicit(typeof(LinearIntKernel), nameof(LinearIntKernel.RunMany)) with { UsesDp4a = true },
        Explicit(typeof(LinearIntKernel), nameof(LinearIntKernel.RunSwiGlu)) with { UsesDp4a = true },
        Explicit(typeof(LinearIntMmaKernel), nameof(LinearIntMmaKernel.Run)) with { UsesMma = true },
        Explicit(typeof(LinearIntMmaKernel), nameof(LinearIntMmaKernel.RunMany)) with { UsesMma = true },
        Explicit(typeof(LinearIntMmaKernel), nameof(LinearIntMmaKernel.RunSwiGlu)) with { UsesMma = true },
        Explicit(typeof(RmsNormQuantizeKernel), nameof(RmsNormQuantizeKernel.Run)),
        Explicit(typeof(ActivationQuantKernel), nameof(ActivationQuantKernel.Run)),
        Explicit(typeof(RmsNormKernel), nameof(RmsNormKernel.Run)),
        Implicit(typeof(RopeKernel), nameof(RopeKernel.Run)),
        Implicit(typeof(KvCacheKernels), nameof(KvCacheKernels.Store), typeof(F32Cache)),
        Implicit(typeof(KvCacheKernels), nameof(KvCacheKernels.Store), typeof(F16Cache)),
        Explicit(typeof(AttentionKernel), nameof(AttentionKernel.Run), typeof(F32Cache)),
        Explicit(typeof(AttentionKernel), nameof(AttentionKernel.Run), typeof(F16Cache)),
        Implicit(typeof(ElementwiseKernels), nameof(ElementwiseKernels.Embedding)),
        Implicit(typeof(ElementwiseKernels), nameof(ElementwiseKernels.SwiGlu)),
        Implicit(typeof(ElementwiseKernels), nameof(ElementwiseKernels.Add)),
        Implicit(typeof(HadamardKernel), nameof(HadamardKernel.Stage)),
        Explicit(typeof(ArgmaxKernel), nameof(ArgmaxKernel.Run)),
    ];

    private static EntryPoint Explicit(Type type, string name, Type? cache = null) => Make(type, name, cache, true);

    private static EntryPoint Implicit(Type type, string name, Type? cache = null) => Make(type, name, cache, false);

    private static EntryPoint Make(Type type, string name, Type? cache, bool grouped)
    {
        var method = type.GetMethod(name, BindingFlags.Public | BindingFlags.Static)
                     ?? throw new MissingMethodException(type.Name, name);
        if (cache is not null) method = method.MakeGenericMethod(cache);
        string label = cache is null ? $"{type.Name}.{name}" : $"{type.Name}.{name}<{cache.Name}>";
        return new EntryPoint(label, method, grouped, false);
    }
}

using System.Text.RegularExpressions;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using QSpec.Kernels.Backends.Ilgpu;

namespace QSpec.Kernels.Tests.Ilgpu;

/// <summary>
/// Every ILGPU kernel compiles to PTX ahead of time (no GPU needed) for SM_80 and SM_90 with ILGPU's PTXBackend, and the
/// integer kernels use dp4a. Note: ILGPU 1.5.3 caps the emitted <c>.target</c> at sm_80 even for SM_90 capabilities;
/// the driver JIT-compiles sm_80 PTX for Hopper.
/// </summary>
public sealed class PtxCompileTests
{
    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var e in KernelSet.EntryPoints)
        {
            data.Add(e.Name, 80);
            data.Add(e.Name, 90);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Kernel_CompilesToPtx(string name, int sm)
    {
        var entry = KernelSet.EntryPoints.Single(e => e.Name == name);
        var ptx = CompilePtx(entry, sm == 90 ? CudaArchitecture.SM_90 : CudaArchitecture.SM_80);
        if (Environment.GetEnvironmentVariable("QSPEC_DUMP_PTX") is { Length: > 0 } dir)
            File.WriteAllText(Path.Combine(dir, $"{entry.Name.Replace('<', '_').Replace('>', '_')}.sm{sm}.ptx"), ptx);
        Assert.Contains(".visible .entry", ptx);
        Assert.Contains(".target sm_80", ptx);
        // Inline PTX of the CUDA-only paths appears exactly in the kernels that use it.
        // The mma kernels also carry their shuffle emulation (and its dp4a) behind a constant-false predicate: ILGPU folds
        // CudaAsm.IsSupported to `setp.ne.s32 %p, 1, 1` and leaves the dead branch to ptxas.
        if (!entry.UsesMma) Assert.Equal(entry.UsesDp4a, ptx.Contains("dp4a.s32.s32", StringComparison.Ordinal));
        Assert.Equal(entry.UsesMma, ptx.Contains("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32", StringComparison.Ordinal));
        if (entry.UsesDp4a || entry.UsesMma) Assert.Contains("mul.rn.f32", ptx);
        if (entry.Method.DeclaringType == typeof(ActivationQuantKernel)) Assert.Contains("cvt.rni.f32.f32", ptx);
    }

    /// <summary>
    /// The W4A16 kernels' design, checked in their PTX: weights come in 128-bit loads, <see cref="LinearW4A16Kernel.LoadsInFlight"/>
    /// of them per matrix issued back to back with no branch between them (several loads in flight per lane; the
    /// vectorizer must see the alignment of LinearMany's run-time chosen matrix too), nothing is staged in shared memory,
    /// no barrier, and no division or remainder by a run-time value (group sizes are shifts, warp-size divisions are by
    /// the constant 32, which ptxas strength-reduces).
    /// </summary>
    [Theory]
    [InlineData(80)]
    [InlineData(90)]
    public void LinearW4A16_Ptx_Has128BitLoads_NoSharedMemory_NoRuntimeDivision(int sm)
    {
        var entries = KernelSet.EntryPoints.Where(e => e.Method.DeclaringType == typeof(LinearW4A16Kernel)).ToArray();
        Assert.Equal(4, entries.Length); // Run, RunMany (QKV, residual add), RunSwiGlu, RunPartial (split K)
        foreach (var entry in entries)
        {
            var ptx = CompilePtx(entry, sm == 90 ? CudaArchitecture.SM_90 : CudaArchitecture.SM_80);
            var loads = Regex.Matches(ptx, @"ld(\.global)?\.v4\.[bu]32");
            int matrices = entry.Method.Name == nameof(LinearW4A16Kernel.RunSwiGlu) ? 2 : 1;
            Assert.Equal(matrices * LinearW4A16Kernel.LoadsInFlight, loads.Count);
            for (int i = 0; i < loads.Count; i += LinearW4A16Kernel.LoadsInFlight)
            {
                var between = ptx[loads[i].Index..loads[i + LinearW4A16Kernel.LoadsInFlight - 1].Index];
                Assert.DoesNotMatch(@"\bbra\b", between);
                Assert.DoesNotMatch(@"\bld(\.global)?\.f32\b", between); // no arithmetic operand loaded in between
            }
            Assert.DoesNotContain(".shared", ptx);
            Assert.DoesNotMatch(@"\bbar(rier)?\.sync", ptx);
            Assert.DoesNotMatch(@"\b(div|rem)\.[su](32|64)\s+%r[d]?\d+,\s*%r[d]?\d+,\s*%r[d]?\d+;", ptx);
        }
    }

    /// <summary>The attention kernels keep their partial results in shared memory: no device-level fence in the PTX.</summary>
    [Theory]
    [InlineData(80)]
    [InlineData(90)]
    public void Attention_Ptx_HasNoMemoryFence(int sm)
    {
        foreach (var entry in KernelSet.EntryPoints.Where(e => e.Method.DeclaringType == typeof(AttentionKernel)))
        {
            var ptx = CompilePtx(entry, sm == 90 ? CudaArchitecture.SM_90 : CudaArchitecture.SM_80);
            Assert.DoesNotMatch(@"\b(membar|fence)\.", ptx);
            Assert.Contains(".shared", ptx);
        }
    }

    private static string CompilePtx(KernelSet.EntryPoint entry, CudaArchitecture architecture)
    {
        // A fresh context per compile: a context caches compiled kernels regardless of the target.
        using var context = Context.Create(b => b.CPU(CPUDeviceKind.Nvidia).EnableAlgorithms());
        using var backend = new PTXBackend(context, new CudaCapabilityContext(architecture), architecture, CudaInstructionSet.ISA_80, null);
        var description = entry.ExplicitlyGrouped
            ? EntryPointDescription.FromExplicitlyGroupedKernel(entry.Method)
            : EntryPointDescription.FromImplicitlyGroupedKernel(entry.Method);
        var compiled = (PTXCompiledKernel)backend.Compile(description, KernelSpecialization.Empty);
        return compiled.PTXAssembly;
    }
}

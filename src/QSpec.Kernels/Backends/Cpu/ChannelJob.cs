namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// A linear driver's work over output channels as a reusable object: the driver fills its fields and hands
/// <see cref="Body"/> (created once) to <see cref="CpuWorkerPool.Run"/>, so a call allocates no closure. Instances are
/// per calling thread and per capture slot (<see cref="For{T}"/>), so a fused op's captured jobs never share one.
/// </summary>
internal abstract class ChannelJob
{
    protected ChannelJob() => Body = Run;

    /// <summary>The cached delegate of <see cref="Run"/>.</summary>
    public Action<int, int> Body { get; }

    /// <summary>Writes Y[m, j] for every row m and the channels j in [start, end).</summary>
    protected abstract void Run(int start, int end);

    /// <summary>Drops the call's array references, so an idle thread's job keeps no model or buffer alive.</summary>
    public abstract void Release();

    /// <summary>This thread's job of type <typeparamref name="T"/> for the next pool call (its capture slot, 0 outside a capture).</summary>
    public static T For<T>() where T : ChannelJob, new() => Slots<T>.Get(CpuWorkerPool.CaptureSlot);

    private static class Slots<T> where T : ChannelJob, new()
    {
        [ThreadStatic] private static T?[]? t_slots;

        public static T Get(int slot)
        {
            var slots = t_slots;
            if (slots is null || slots.Length <= slot)
            {
                Array.Resize(ref t_slots, Math.Max(4, slot + 1));
                slots = t_slots;
            }
            return slots[slot] ??= new T();
        }
    }
}

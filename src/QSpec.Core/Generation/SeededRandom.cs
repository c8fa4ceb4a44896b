namespace QSpec.Generation;

/// <summary>
/// Random streams from user seeds. <c>new Random(seed)</c> uses .NET's legacy seeded generator, whose first draws for
/// neighbouring seeds (s, s + 1, ...) are strongly correlated: a batch seeded s + i, or a caller looping over seeds
/// 0..N, would then see draws far from independent uniforms (it broke the QSpec distribution test with a W4A8 draft,
/// whose output hangs almost entirely on each stream's first draw). Each (seed, stream) pair is therefore scrambled
/// with the SplitMix64 finalizer before it seeds a generator.
/// </summary>
internal static class SeededRandom
{
    /// <summary>A generator for stream <paramref name="stream"/> of <paramref name="seed"/>; the same pair gives the same stream.</summary>
    public static Random Create(int seed, int stream = 0)
    {
        ulong z = ((ulong)(uint)seed << 32 | (uint)stream) + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return new Random((int)(z & int.MaxValue));
    }
}

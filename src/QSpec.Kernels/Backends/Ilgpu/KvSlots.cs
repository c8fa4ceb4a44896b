namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// Up to <see cref="Count"/> sequences of one attention launch, passed by value: slot j owns the launch's rows
/// [RowOffset_j, RowOffset_j + Rows_j) of q (slots tile the launch's rows in order), at positions Start_j + r, with its
/// own caches at LayerOffset_j. One launch then serves a whole batch of sequences (B = 8 is one launch per layer,
/// not eight) although each sequence has its own cache buffers. Unused slots have Rows = 0 and repeat slot 0's caches.
/// </summary>
internal struct KvSlots<TCache> where TCache : struct, ICacheView
{
    public const int Count = 8;
    public TCache K0, K1, K2, K3, K4, K5, K6, K7;
    public TCache V0, V1, V2, V3, V4, V5, V6, V7;
    public int O0, O1, O2, O3, O4, O5, O6, O7; // row offsets
    public int N0, N1, N2, N3, N4, N5, N6, N7; // rows
    public int S0, S1, S2, S3, S4, S5, S6, S7; // starts
    public long L0, L1, L2, L3, L4, L5, L6, L7; // layer offsets

    /// <summary>The slot that owns q row <paramref name="row"/> (one of the launch's rows).</summary>
    public readonly int SlotOf(int row)
    {
        int j = 0;
        while (j < Count - 1 && row >= RowOffset(j) + Rows(j)) j++;
        return j;
    }

    public readonly TCache Keys(int j) => j switch { 0 => K0, 1 => K1, 2 => K2, 3 => K3, 4 => K4, 5 => K5, 6 => K6, _ => K7 };
    public readonly TCache Values(int j) => j switch { 0 => V0, 1 => V1, 2 => V2, 3 => V3, 4 => V4, 5 => V5, 6 => V6, _ => V7 };
    public readonly int RowOffset(int j) => j switch { 0 => O0, 1 => O1, 2 => O2, 3 => O3, 4 => O4, 5 => O5, 6 => O6, _ => O7 };
    public readonly int Rows(int j) => j switch { 0 => N0, 1 => N1, 2 => N2, 3 => N3, 4 => N4, 5 => N5, 6 => N6, _ => N7 };
    public readonly int Start(int j) => j switch { 0 => S0, 1 => S1, 2 => S2, 3 => S3, 4 => S4, 5 => S5, 6 => S6, _ => S7 };
    public readonly long LayerOffset(int j) => j switch { 0 => L0, 1 => L1, 2 => L2, 3 => L3, 4 => L4, 5 => L5, 6 => L6, _ => L7 };

    /// <summary>A copy with slot <paramref name="j"/> set (host side).</summary>
    public static KvSlots<TCache> With(KvSlots<TCache> s, int j, TCache keys, TCache values, int rowOffset, int rows, int start, long layerOffset)
    {
        switch (j)
        {
            case 0: (s.K0, s.V0, s.O0, s.N0, s.S0, s.L0) = (keys, values, rowOffset, rows, start, layerOffset); break;
            case 1: (s.K1, s.V1, s.O1, s.N1, s.S1, s.L1) = (keys, values, rowOffset, rows, start, layerOffset); break;
            case 2: (s.K2, s.V2, s.O2, s.N2, s.S2, s.L2) = (keys, values, rowOffset, rows, start, layerOffset); break;
            case 3: (s.K3, s.V3, s.O3, s.N3, s.S3, s.L3) = (keys, values, rowOffset, rows, start, layerOffset); break;
            case 4: (s.K4, s.V4, s.O4, s.N4, s.S4, s.L4) = (keys, values, rowOffset, rows, start, layerOffset); break;
            case 5: (s.K5, s.V5, s.O5, s.N5, s.S5, s.L5) = (keys, values, rowOffset, rows, start, layerOffset); break;
            case 6: (s.K6, s.V6, s.O6, s.N6, s.S6, s.L6) = (keys, values, rowOffset, rows, start, layerOffset); break;
            default: (s.K7, s.V7, s.O7, s.N7, s.S7, s.L7) = (keys, values, rowOffset, rows, start, layerOffset); break;
        }
        return s;
    }
}

using System.Buffers.Binary;
using HardenRunner.Monitoring;

namespace HardenRunner.Tests.Monitoring;

public class ProcConnectorMessageTests
{
    [Fact]
    public void BuildControl_SubscribeMessage_HasConnectorHeaderAndOp()
    {
        var m = ProcConnectorMessage.BuildControl(ProcConnectorMessage.McastListen, 77);
        Assert.Equal(40, m.Length);
        Assert.Equal(40u, BinaryPrimitives.ReadUInt32LittleEndian(m));
        Assert.Equal(3, BinaryPrimitives.ReadUInt16LittleEndian(m.AsSpan(4))); // NLMSG_DONE
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(m.AsSpan(16))); // CN_IDX_PROC
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(m.AsSpan(20))); // CN_VAL_PROC
        Assert.Equal(77u, BinaryPrimitives.ReadUInt32LittleEndian(m.AsSpan(24)));
        Assert.Equal(4, BinaryPrimitives.ReadUInt16LittleEndian(m.AsSpan(32)));
        Assert.Equal(1, BinaryPrimitives.ReadInt32LittleEndian(m.AsSpan(36)));
    }

    [Fact]
    public void Parse_ForkExecExitPtraceUid_FieldsLandWhereTheKernelPutsThem()
    {
        var datagram = Concat(
            Event(0x1, cpu: 1, seq: 10, ts: 123, 100, 100, 200, 200),      // fork: parent 100 → child 200
            Event(0x2, cpu: 1, seq: 11, ts: 124, 200, 200),                // exec 200
            Event(0x100, cpu: 0, seq: 5, ts: 125, 300, 300, 400, 400),     // ptrace: 400 traces 300
            Event(0x4, cpu: 0, seq: 6, ts: 126, 500, 500, 1000, 0),        // uid: ruid 1000, euid 0
            Event(0x80000000, cpu: 1, seq: 12, ts: 127, 200, 200, 0, 17, 100, 100)); // exit 200, parent 100
        var events = new List<ProcEvent>();
        Assert.Equal(5, ProcConnectorMessage.Parse(datagram, events.Add));

        Assert.Equal(new ProcEvent(ProcEventKind.Fork, 1, 10, 123, 200, 200, 100, 100, 0, 0), events[0]);
        Assert.Equal(ProcEventKind.Exec, events[1].Kind);
        Assert.Equal(200, events[1].Tgid);
        Assert.Equal((300, 400), (events[2].Tgid, events[2].OtherTgid));
        Assert.Equal((1000u, 0u), (events[3].RealId, events[3].EffectiveId));
        Assert.Equal((ProcEventKind.Exit, 200, 100), (events[4].Kind, events[4].Tgid, events[4].OtherTgid));
    }

    [Fact]
    public void Parse_TruncatedOrForeignMessages_AreSkipped()
    {
        var good = Event(0x2, 0, 1, 1, 42, 42);
        var foreign = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(foreign.AsSpan(16), 9); // another connector index
        var events = new List<ProcEvent>();
        Assert.Equal(1, ProcConnectorMessage.Parse(Concat(foreign, good, good.AsSpan(0, 20).ToArray()), events.Add));
        Assert.Equal(42, events[0].Pid);
    }

    [Fact]
    public void SequenceTracker_GapsPerCpu_CountLostEvents()
    {
        var t = new ProcSequenceTracker();
        foreach (var (cpu, seq) in new[] { (0u, 10u), (1u, 500u), (0u, 11u), (0u, 15u), (1u, 501u), (1u, 503u) })
        {
            t.Observe(new ProcEvent(ProcEventKind.Exec, cpu, seq, 0, 1, 1, 0, 0, 0, 0));
        }

        Assert.Equal(3 + 1, t.Lost);
    }

    private static byte[] Event(uint what, uint cpu, uint seq, ulong ts, params int[] data)
    {
        var m = new byte[16 + 20 + 16 + 24];
        var s = m.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(s, (uint)m.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(s[4..], 3);
        BinaryPrimitives.WriteUInt32LittleEndian(s[16..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(s[20..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(s[24..], seq);
        BinaryPrimitives.WriteUInt16LittleEndian(s[32..], 40);
        BinaryPrimitives.WriteUInt32LittleEndian(s[36..], what);
        BinaryPrimitives.WriteUInt32LittleEndian(s[40..], cpu);
        BinaryPrimitives.WriteUInt64LittleEndian(s[44..], ts);
        for (var i = 0; i < data.Length; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(s[(52 + (4 * i))..], data[i]);
        }

        return m;
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}

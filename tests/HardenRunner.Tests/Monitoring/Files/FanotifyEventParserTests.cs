using System.Buffers.Binary;
using System.Text;
using HardenRunner.Monitoring.Files;

namespace HardenRunner.Tests.Monitoring.Files;

public sealed class FanotifyEventParserTests
{
    [Fact]
    public void Parse_DfidNameThenFid_ReadsMaskPidDirectoryHandleAndName()
    {
        var handle = new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 };
        var buffer = Event(0x8 /*close-write*/, 4242, [DfidName(2, (11, 22), 1, handle, "a.c"), Fid((11, 22), 1, [9, 9, 9, 9, 9, 9, 9, 9])]);

        var events = new List<FanotifyRawEvent>();
        var used = FanotifyEventParser.Parse(buffer, events, out var malformed);

        Assert.False(malformed);
        Assert.Equal(buffer.Length, used);
        var e = Assert.Single(events);
        Assert.Equal(0x8ul, e.Mask);
        Assert.Equal(4242, e.Pid);
        Assert.Equal(-1, e.Fd);
        Assert.Equal("a.c", e.Name);
        Assert.Equal(new FsId(11, 22), e.FsId);
        // key = fsid (8) + struct file_handle (handle_bytes, handle_type, f_handle)
        Assert.Equal(8 + 8 + handle.Length, e.DirKey!.Length);
        Assert.Equal(handle, e.DirKey[16..]);
    }

    [Fact]
    public void Parse_SeveralEvents_AllReturnedInOrder_OverflowAndDirectoryFlagsKept()
    {
        var buffer = Event(0x100 | 0x4000_0000 /*create|ondir*/, 7, [DfidName(2, (1, 1), 1, [1, 2, 3, 4], "dir")])
            .Concat(Event(0x4000 /*overflow*/, -1, []))
            .Concat(Event(0x200 /*delete*/, 8, [DfidName(2, (1, 1), 1, [1, 2, 3, 4], "x")]))
            .ToArray();

        var events = new List<FanotifyRawEvent>();
        FanotifyEventParser.Parse(buffer, events, out var malformed);

        Assert.False(malformed);
        Assert.Equal(3, events.Count);
        Assert.True(events[0].IsDirectory);
        Assert.True(events[1].IsOverflow);
        Assert.Null(events[1].DirKey);
        Assert.Equal("x", events[2].Name);
    }

    [Fact]
    public void Parse_TruncatedOrWrongVersion_StopsAndReportsMalformed()
    {
        var good = Event(0x2, 1, [DfidName(2, (1, 1), 1, [1, 2, 3, 4], "f")]);
        var truncated = good.Concat(good.Take(good.Length - 3)).ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(truncated.AsSpan(good.Length), (uint)good.Length); // claims a whole event

        var events = new List<FanotifyRawEvent>();
        FanotifyEventParser.Parse(truncated, events, out var malformed);
        Assert.True(malformed);
        Assert.Single(events);

        var wrongVersion = good.ToArray();
        wrongVersion[4] = 2;
        events.Clear();
        FanotifyEventParser.Parse(wrongVersion, events, out malformed);
        Assert.True(malformed);
        Assert.Empty(events);
    }

    [Fact]
    public void Parse_InfoRecordLongerThanEvent_IsMalformedButEventKept()
    {
        var ev = Event(0x8, 5, [DfidName(2, (1, 1), 1, [1, 2, 3, 4], "f")]);
        BinaryPrimitives.WriteUInt16LittleEndian(ev.AsSpan(FanotifyEventParser.MetadataSize + 2), 500);

        var events = new List<FanotifyRawEvent>();
        FanotifyEventParser.Parse(ev, events, out var malformed);

        Assert.True(malformed);
        var e = Assert.Single(events);
        Assert.Null(e.DirKey);
    }

    private static byte[] Event(ulong mask, int pid, byte[][] infos)
    {
        var len = FanotifyEventParser.MetadataSize + infos.Sum(i => i.Length);
        var b = new byte[len];
        BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)len);
        b[4] = 3;
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(6), FanotifyEventParser.MetadataSize);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), mask);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(16), -1);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(20), pid);
        var at = FanotifyEventParser.MetadataSize;
        foreach (var i in infos)
        {
            i.CopyTo(b, at);
            at += i.Length;
        }

        return b;
    }

    private static byte[] DfidName(byte type, (int A, int B) fsid, int handleType, byte[] handle, string name) =>
        Info(type, fsid, handleType, handle, Encoding.UTF8.GetBytes(name + "\0"));

    private static byte[] Fid((int A, int B) fsid, int handleType, byte[] handle) => Info(1, fsid, handleType, handle, []);

    private static byte[] Info(byte type, (int A, int B) fsid, int handleType, byte[] handle, byte[] tail)
    {
        var raw = 4 + 8 + 8 + handle.Length + tail.Length;
        var len = (raw + 3) & ~3; // records are padded to 4 bytes
        var b = new byte[len];
        b[0] = type;
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(2), (ushort)len);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(4), fsid.A);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(8), fsid.B);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(12), (uint)handle.Length);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(16), handleType);
        handle.CopyTo(b, 20);
        tail.CopyTo(b, 20 + handle.Length);
        return b;
    }
}

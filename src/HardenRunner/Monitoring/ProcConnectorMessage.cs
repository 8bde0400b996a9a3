using System.Buffers.Binary;

namespace HardenRunner.Monitoring;

/// <summary>Kinds of kernel proc-connector events (linux/cn_proc.h, enum what).</summary>
internal enum ProcEventKind : uint
{
    None = 0,
    Fork = 0x1,
    Exec = 0x2,
    Uid = 0x4,
    Gid = 0x40,
    Sid = 0x80,
    Ptrace = 0x100,
    Comm = 0x200,
    NonzeroExit = 0x20000000,
    Coredump = 0x40000000,
    Exit = 0x80000000,
}

/// <summary>
/// One proc-connector event, flattened. <see cref="Pid"/>/<see cref="Tgid"/> are the subject (the child for fork);
/// <see cref="OtherPid"/>/<see cref="OtherTgid"/> the parent (fork) or the tracer (ptrace, 0 on detach);
/// <see cref="RealId"/>/<see cref="EffectiveId"/> the new ids (uid/gid events). <see cref="TimestampNs"/> is CLOCK_MONOTONIC.
/// For the subscription acknowledgement (<see cref="ProcEventKind.None"/>) <see cref="Pid"/> holds the errno and
/// <see cref="Ack"/> the request's ack number plus one.
/// </summary>
internal readonly record struct ProcEvent(
    ProcEventKind Kind,
    uint Cpu,
    uint Sequence,
    ulong TimestampNs,
    int Pid,
    int Tgid,
    int OtherPid,
    int OtherTgid,
    uint RealId,
    uint EffectiveId,
    uint Ack = 0);

/// <summary>
/// The netlink wire format of the proc connector (x86-64 and arm64 layouts are the same: native endianness,
/// 8-byte aligned timestamp): nlmsghdr (16) · cn_msg (20) · proc_event (what, cpu, timestamp, union).
/// </summary>
internal static class ProcConnectorMessage
{
    public const uint CnIdxProc = 1;
    public const uint CnValProc = 1;
    public const int McastListen = 1;
    public const int McastIgnore = 2;
    public const int NlmsgHeaderLength = 16;
    public const int CnMsgLength = 20;
    public const ushort NlmsgDone = 3;
    public const ushort NlmsgError = 2;

    private const int EventOffset = NlmsgHeaderLength + CnMsgLength;

    /// <summary>The subscribe (<see cref="McastListen"/>) or unsubscribe request.</summary>
    public static byte[] BuildControl(int op, uint sequence, uint ack = 0)
    {
        var message = new byte[NlmsgHeaderLength + CnMsgLength + 4];
        var span = message.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)message.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(span[4..], NlmsgDone);
        BinaryPrimitives.WriteUInt32LittleEndian(span[8..], sequence);
        var cn = span[NlmsgHeaderLength..];
        BinaryPrimitives.WriteUInt32LittleEndian(cn, CnIdxProc);
        BinaryPrimitives.WriteUInt32LittleEndian(cn[4..], CnValProc);
        BinaryPrimitives.WriteUInt32LittleEndian(cn[8..], sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(cn[12..], ack);
        BinaryPrimitives.WriteUInt16LittleEndian(cn[16..], 4);
        BinaryPrimitives.WriteInt32LittleEndian(cn[CnMsgLength..], op);
        return message;
    }

    /// <summary>
    /// Parses every netlink message in one datagram and calls <paramref name="onEvent"/> for each proc event
    /// (the subscribe acknowledgement, kind <see cref="ProcEventKind.None"/>, included). Malformed tails are ignored.
    /// </summary>
    public static int Parse(ReadOnlySpan<byte> datagram, Action<ProcEvent> onEvent)
    {
        var count = 0;
        while (datagram.Length >= NlmsgHeaderLength)
        {
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(datagram);
            if (length < NlmsgHeaderLength || length > datagram.Length)
            {
                break;
            }

            var message = datagram[..length];
            if (TryParseOne(message, out var e))
            {
                onEvent(e);
                count++;
            }

            var aligned = (length + 3) & ~3;
            if (aligned >= datagram.Length)
            {
                break;
            }

            datagram = datagram[aligned..];
        }

        return count;
    }

    private static bool TryParseOne(ReadOnlySpan<byte> message, out ProcEvent e)
    {
        e = default;
        var type = BinaryPrimitives.ReadUInt16LittleEndian(message[4..]);
        if (type != NlmsgDone || message.Length < EventOffset + 16)
        {
            return false;
        }

        var cn = message[NlmsgHeaderLength..];
        if (BinaryPrimitives.ReadUInt32LittleEndian(cn) != CnIdxProc || BinaryPrimitives.ReadUInt32LittleEndian(cn[4..]) != CnValProc)
        {
            return false;
        }

        var sequence = BinaryPrimitives.ReadUInt32LittleEndian(cn[8..]);
        var ack = BinaryPrimitives.ReadUInt32LittleEndian(cn[12..]);
        var ev = message[EventOffset..];
        var kind = (ProcEventKind)BinaryPrimitives.ReadUInt32LittleEndian(ev);
        var cpu = BinaryPrimitives.ReadUInt32LittleEndian(ev[4..]);
        var timestamp = BinaryPrimitives.ReadUInt64LittleEndian(ev[8..]);
        Span<int> f = stackalloc int[6];
        var data = ev[16..];
        for (var i = 0; i < f.Length && data.Length >= (i + 1) * 4; i++)
        {
            f[i] = BinaryPrimitives.ReadInt32LittleEndian(data[(i * 4)..]);
        }

        e = kind switch
        {
            // parent_pid, parent_tgid, child_pid, child_tgid
            ProcEventKind.Fork => new ProcEvent(kind, cpu, sequence, timestamp, f[2], f[3], f[0], f[1], 0, 0),

            // process_pid, process_tgid, tracer_pid, tracer_tgid
            ProcEventKind.Ptrace => new ProcEvent(kind, cpu, sequence, timestamp, f[0], f[1], f[2], f[3], 0, 0),

            // process_pid, process_tgid, ruid/rgid, euid/egid
            ProcEventKind.Uid or ProcEventKind.Gid => new ProcEvent(kind, cpu, sequence, timestamp, f[0], f[1], 0, 0, (uint)f[2], (uint)f[3]),

            // process_pid, process_tgid, exit_code, exit_signal, parent_pid, parent_tgid
            ProcEventKind.Exit or ProcEventKind.NonzeroExit => new ProcEvent(kind, cpu, sequence, timestamp, f[0], f[1], f[4], f[5], (uint)f[2], 0),

            // exec, sid, comm, coredump, ack: process_pid, process_tgid
            _ => new ProcEvent(kind, cpu, sequence, timestamp, f[0], f[1], 0, 0, 0, 0, ack),
        };
        return true;
    }
}

/// <summary>
/// Counts events the kernel dropped. The connector numbers its messages with a per-CPU counter (cn_msg.seq) shared by
/// every listener (subscription acknowledgements included); a subscriber that receives all event kinds sees each CPU's
/// numbers without gaps unless messages were lost (socket buffer overflow), so gaps give the exact number lost.
/// </summary>
internal sealed class ProcSequenceTracker
{
    private readonly Dictionary<uint, uint> _lastByCpu = [];

    public long Lost { get; private set; }

    public void Observe(in ProcEvent e)
    {
        if (_lastByCpu.TryGetValue(e.Cpu, out var last))
        {
            var gap = unchecked(e.Sequence - last - 1);
            if (gap > 0 && gap < 1u << 30)
            {
                Lost += gap;
            }
        }

        _lastByCpu[e.Cpu] = e.Sequence;
    }
}

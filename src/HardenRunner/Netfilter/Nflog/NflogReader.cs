using HardenRunner.Events;
using HardenRunner.Linux;
using HardenRunner.Monitoring;
using HardenRunner.Monitoring.Network;

namespace HardenRunner.Netfilter.Nflog;

/// <summary>
/// Reads the firewall's NFLOG group on a dedicated thread and publishes a network event per denied flow (through
/// <see cref="DeniedFlowPublisher"/>). Counts what it could not deliver: messages the kernel dropped (socket buffer
/// overflow, sequence gaps) and malformed messages.
/// </summary>
public sealed class NflogReader : IDisposable
{
    private readonly ushort _group;
    private readonly string? _networkNamespace;
    private readonly DeniedFlowPublisher _publisher;
    private readonly AttributionQueue? _attribution;
    private readonly Thread _thread;
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _stopping;
    private long _received;
    private long _lost;
    private long _overruns;
    private long _malformed;
    private long _handlerErrors;
    private uint? _lastSequence;

    private NflogReader(ushort group, DeniedFlowPublisher publisher, AttributionQueue? attribution, string? networkNamespace)
    {
        _group = group;
        _publisher = publisher;
        _attribution = attribution;
        _networkNamespace = networkNamespace is null ? null : NetworkNamespace.PathOf(networkNamespace);
        _thread = new Thread(Run) { IsBackground = true, Name = $"nflog-{group}" };
    }

    public DeniedFlowPublisher Publisher => _publisher;

    /// <summary>The process lookups behind flow events (null without an attributor).</summary>
    public AttributionQueue? Attribution => _attribution;

    /// <summary>Packets received from the kernel.</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Packets the kernel logged but this reader never got (gaps in NFLOG's sequence numbers).</summary>
    public long Lost => Interlocked.Read(ref _lost);

    /// <summary>Times the socket buffer overflowed (ENOBUFS); the lost packets show in <see cref="Lost"/>.</summary>
    public long Overruns => Interlocked.Read(ref _overruns);

    public long Malformed => Interlocked.Read(ref _malformed);

    /// <summary>Packets whose event could not be published (the sink threw); reading goes on.</summary>
    public long HandlerErrors => Interlocked.Read(ref _handlerErrors);

    /// <summary>
    /// Binds the group and starts reading; throws when the group cannot be bound (e.g. it is taken).
    /// <paramref name="networkNamespace"/>: null for the process's namespace (production), a path or name in tests.
    /// <paramref name="attributor"/>: names the process and step behind each flow (best effort, off the reading thread);
    /// null: flows carry no process or step.
    /// </summary>
    public static NflogReader Start(ushort group, IEventSink events, string? networkNamespace = null, TimeProvider? time = null, IProcessAttributor? attributor = null)
    {
        var attribution = attributor is null ? null : new AttributionQueue(attributor, "nflog");
        var reader = new NflogReader(group, new DeniedFlowPublisher(events, time, InterfaceName, attribution), attribution, networkNamespace);
        reader._thread.Start();
        try
        {
            reader._started.Task.GetAwaiter().GetResult();
        }
        catch
        {
            reader.Dispose();
            throw;
        }

        return reader;
    }

    public void Dispose()
    {
        _stopping = true;
        if (_thread.IsAlive && Thread.CurrentThread != _thread)
        {
            _thread.Join();
        }

        // the last flows' events are published once their lookups end
        _attribution?.Dispose();
    }

    private static unsafe string? InterfaceName(uint index)
    {
        var name = stackalloc byte[16];
        var p = LinuxInterop.IfIndexToName(index, name);
        return p == null ? null : System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)p);
    }

    private void Run()
    {
        NflogSocket socket;
        try
        {
            if (_networkNamespace is not null)
            {
                NetworkNamespace.EnterOnCurrentThread(_networkNamespace);
            }

            socket = NflogSocket.Open(_group, NftRulesetBuilder.LogSnaplen);
        }
        catch (Exception e)
        {
            _started.SetException(e);
            return;
        }

        _started.SetResult();
        using (socket)
        {
            var buffer = new byte[1 << 16];
            while (!_stopping)
            {
                int n;
                try
                {
                    n = socket.Receive(buffer, 200);
                }
                catch (IOException)
                {
                    Interlocked.Increment(ref _malformed);
                    Thread.Sleep(200);
                    continue;
                }

                if (n < 0)
                {
                    Interlocked.Increment(ref _overruns);
                    continue;
                }

                if (n > 0)
                {
                    var bad = NflogMessage.Parse(buffer.AsSpan(0, n), OnPacket, out _);
                    Interlocked.Add(ref _malformed, bad);
                }
            }
        }
    }

    private void OnPacket(NflogPacket packet)
    {
        Interlocked.Increment(ref _received);
        if (packet.Sequence is { } seq)
        {
            var gap = _lastSequence is { } last ? unchecked(seq - last - 1) : 0;
            if (gap is > 0 and < 0x80000000)
            {
                Interlocked.Add(ref _lost, gap);
            }

            _lastSequence = seq;
        }

        try
        {
            _publisher.Handle(packet);
        }
        catch (Exception)
        {
            // a failing sink must not stop the reader (it would silently lose every later flow)
            Interlocked.Increment(ref _handlerErrors);
        }
    }
}

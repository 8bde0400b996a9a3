using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using HardenRunner.Events;
using HardenRunner.Proxy;
using Microsoft.Extensions.Logging;

namespace HardenRunner.Tests.Proxy;

/// <summary>
/// Stands in for SO_ORIGINAL_DST on loopback (no nftables): a client binds its socket first, registers "this local port
/// was going to X", then connects; the proxy reads X for that connection. Unregistered connections get <see cref="Default"/>.
/// </summary>
internal sealed class FakeDestinations : IOriginalDestinationReader
{
    private readonly ConcurrentDictionary<int, IPEndPoint> _byClientPort = new();

    public IPEndPoint? Default { get; set; }

    public int Reads;

    public void Register(int clientPort, IPEndPoint destination) => _byClientPort[clientPort] = destination;

    public IPEndPoint? Read(Socket socket)
    {
        Interlocked.Increment(ref Reads);
        return socket.RemoteEndPoint is IPEndPoint remote && _byClientPort.TryRemove(remote.Port, out var d) ? d : Default;
    }
}

/// <summary>The appliance's resolver stand-in: fixed answers per name, and a log of the names asked.</summary>
internal sealed class StaticResolver : IUpstreamResolver
{
    private readonly ConcurrentDictionary<string, IReadOnlyList<IPAddress>> _answers = new(StringComparer.OrdinalIgnoreCase);

    public ConcurrentQueue<string> Queries { get; } = new();

    public StaticResolver Set(string name, params IPAddress[] addresses)
    {
        _answers[name] = addresses;
        return this;
    }

    public ValueTask<IReadOnlyList<IPAddress>> ResolveAsync(string hostName, CancellationToken cancellationToken)
    {
        Queries.Enqueue(hostName);
        return ValueTask.FromResult(_answers.TryGetValue(hostName, out var a) ? a : (IReadOnlyList<IPAddress>)[]);
    }
}

internal sealed class ProxyEvents : IEventSink
{
    public ConcurrentQueue<ApplianceEvent> All { get; } = new();

    public IReadOnlyList<NetworkEvent> Network => [.. All.OfType<NetworkEvent>()];

    public IReadOnlyList<DetectionEvent> Detections => [.. All.OfType<DetectionEvent>()];

    public void Publish(ApplianceEvent e) => All.Enqueue(e);
}

/// <summary>Captures every log line (formatted, with exception text) from every category.</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull
        {
            lines.Enqueue($"scope {category}: {state}");
            return null;
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}

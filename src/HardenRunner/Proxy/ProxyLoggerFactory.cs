using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HardenRunner.Proxy;

/// <summary>
/// The logger factory the proxy's host uses. ASP.NET Core and YARP log request URLs (with query strings, which may
/// carry tokens) at Information and below; their categories are held to Warning and above so no request target reaches
/// any log. The proxy's own messages name hosts, ports and rules only.
/// </summary>
internal sealed class ProxyLoggerFactory(ILoggerFactory inner) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName)
    {
        ArgumentNullException.ThrowIfNull(categoryName);
        var logger = inner.CreateLogger(categoryName);
        return categoryName.StartsWith("HardenRunner.", StringComparison.Ordinal) ? logger : new MinimumLevelLogger(logger, LogLevel.Warning);
    }

    public void AddProvider(ILoggerProvider provider)
    {
        // providers belong to the factory the caller passed in
    }

    public void Dispose()
    {
        // the caller owns the inner factory
    }

    public static ILoggerFactory Wrap(ILoggerFactory? inner) => new ProxyLoggerFactory(inner ?? NullLoggerFactory.Instance);

    private sealed class MinimumLevelLogger(ILogger inner, LogLevel minimum) : ILogger
    {
        // framework scopes carry the request path (ASP.NET Core's hosting scope): never hand them to providers
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= minimum)
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
            }
        }
    }
}

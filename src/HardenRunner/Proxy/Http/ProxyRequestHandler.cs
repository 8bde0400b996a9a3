using System.Net;
using System.Text;
using HardenRunner.Policy;
using HardenRunner.Proxy.Connection;
using HardenRunner.Proxy.Events;
using HardenRunner.Proxy.Upstream;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;
using NetworkEvent = HardenRunner.Events.NetworkEvent;

namespace HardenRunner.Proxy.Http;

/// <summary>
/// The terminal HTTP step for intercepted HTTPS and for plain HTTP: inspect (<see cref="RequestInspector"/>), record one
/// event, then answer 403 (block mode, denied), a 4xx (malformed or unforwardable, any mode), or forward with
/// <see cref="IHttpForwarder"/> in the client's HTTP version (HTTP/2 falls back to HTTP/1.1 when the upstream lacks it).
/// No answer reaches the client before its connection's process lookup has ended or its bounded wait is over
/// (<see cref="ProxyConnectionFeature.HoldForAttributionAsync"/>); a forwarded request goes upstream meanwhile.
/// </summary>
internal sealed partial class ProxyRequestHandler(
    ActivePolicy policy,
    IHttpForwarder forwarder,
    HttpMessageInvoker invoker,
    ProxyEventRecorder events,
    DestinationCheck destinationCheck,
    TimeSpan activityTimeout,
    ILogger logger)
{
    private const string KestrelRenamedContentLength = "X-Content-Length";

    public async Task HandleAsync(HttpContext context)
    {
        var connection = context.Features.Get<ProxyConnectionFeature>();
        if (connection is null)
        {
            context.Abort(); // every listener runs the original-destination step; never forward without it
            return;
        }

        connection.CountRequest();
        var request = context.Request;
        var facts = new RequestFacts(
            connection.IsTls,
            connection.ServerName,
            connection.OriginalDestination,
            request.Method,
            // several Host values (Kestrel refuses them already) become an invalid Host, never "no Host"
            request.Headers.Host.Count == 1 ? request.Headers.Host.ToString() : (request.Headers.Host.Count == 0 ? null : "\n"),
            context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? request.Path.ToString(),
            context.Features.Get<IHttpExtendedConnectFeature>()?.IsExtendedConnect == true,
            // Kestrel renames Content-Length to X-Content-Length when Transfer-Encoding is present too
            request.Headers.ContainsKey(HeaderNames.ContentLength) || request.Headers.ContainsKey(KestrelRenamedContentLength),
            request.Headers.ContainsKey(HeaderNames.TransferEncoding));
        var engine = policy.Current; // one policy for the whole decision (it can be switched in service mode)
        var plan = RequestInspector.Inspect(facts, engine);

        if (plan.RejectStatus != 0)
        {
            events.Request(connection, plan.Host, plan.Method, plan.Target, plan.Verdict, engine.Mode, forcedBlock: true);
            await RespondAsync(context, connection, plan.RejectStatus, plan.Verdict.Rule, close: true).ConfigureAwait(false);
            return;
        }

        var action = events.Request(connection, plan.Host, plan.Method, plan.Target, plan.Verdict, engine.Mode);
        if (plan.FrontedHost is { } fronted)
        {
            events.DomainFronting(connection, plan.Host ?? "", fronted, action == NetworkEvent.Blocked);
        }

        if (action == NetworkEvent.Blocked)
        {
            LogBlocked(logger, plan.Method, plan.Host ?? "", plan.Verdict.Rule);
            await RespondAsync(context, connection, StatusCodes.Status403Forbidden, plan.Verdict.Rule, close: false).ConfigureAwait(false);
            return;
        }

        await destinationCheck.CheckAsync(connection, plan.Host!, context.RequestAborted).ConfigureAwait(false);
        context.Features.Set(plan);
        if (!connection.HoldForAttributionAsync().IsCompleted)
        {
            // the request goes upstream while the client's process lookup ends; its response waits for it
            context.Response.OnStarting(static state => ((ProxyConnectionFeature)state).HoldForAttributionAsync(), connection);
        }

        var config = new ForwarderRequestConfig
        {
            ActivityTimeout = activityTimeout,
            Version = HttpProtocol.IsHttp2(request.Protocol) ? HttpVersion.Version20 : HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
        var error = await forwarder.SendAsync(context, plan.UpstreamUri!.GetLeftPart(UriPartial.Authority), invoker, config, PassThroughTransformer.Instance, context.RequestAborted).ConfigureAwait(false);
        if (error != ForwarderError.None)
        {
            var reason = context.GetForwarderErrorFeature()?.Exception?.GetType().Name ?? "";
            LogForwardFailed(logger, plan.Host ?? "", connection.OriginalDestination.Port, error, reason);
        }
    }

    private static async Task RespondAsync(HttpContext context, ProxyConnectionFeature connection, int status, string rule, bool close)
    {
        await connection.HoldForAttributionAsync().ConfigureAwait(false); // before the client hears the refusal
        if (context.Response.HasStarted)
        {
            context.Abort();
            return;
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        if (close && !HttpProtocol.IsHttp2(context.Request.Protocol))
        {
            context.Response.Headers.Connection = "close";
        }

        var body = Encoding.UTF8.GetBytes($"HardenRunner: {(status == StatusCodes.Status403Forbidden ? "blocked by policy" : "refused")}: {rule}\n");
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "blocked {Method} to {Host}: {Rule}")]
    private static partial void LogBlocked(ILogger logger, string method, string host, string rule);

    [LoggerMessage(Level = LogLevel.Warning, Message = "forwarding to {Host}:{Port} failed: {Error} {Reason}")]
    private static partial void LogForwardFailed(ILogger logger, string host, int port, ForwarderError error, string reason);
}

using HardenRunner.Proxy.Upstream;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;

namespace HardenRunner.Proxy.Http;

/// <summary>
/// Copies the request as the client sent it: every header (Host included), no X-Forwarded-*, Forwarded, Via or trace
/// header added. Only hop-by-hop headers are dropped: the fixed list YARP's base transformer skips (Connection,
/// Keep-Alive, Transfer-Encoding, TE, Upgrade, Proxy-*) and any header the client's Connection header names.
/// The destination URI and the preferred upstream address come from the request's <see cref="RequestPlan"/>; a
/// connection's first request also carries what was prepared during the handshake (its name's addresses, an upstream
/// connection).
/// </summary>
internal sealed class PassThroughTransformer : HttpTransformer
{
    public static readonly PassThroughTransformer Instance = new();

    private PassThroughTransformer()
    {
    }

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        ArgumentNullException.ThrowIfNull(proxyRequest);
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        foreach (var token in httpContext.Request.Headers.GetCommaSeparatedValues(HeaderNames.Connection))
        {
            if (!proxyRequest.Headers.Remove(token))
            {
                proxyRequest.Content?.Headers.Remove(token);
            }
        }

        var plan = httpContext.Features.Get<RequestPlan>() ?? throw new InvalidOperationException("no request plan");
        proxyRequest.RequestUri = plan.UpstreamUri;
        if (plan.PreferredAddress is { } preferred)
        {
            proxyRequest.Options.Set(UpstreamClientFactory.PreferredAddress, preferred);
        }

        if (httpContext.Features.Get<Connection.ProxyConnectionFeature>() is { Requests: 1 } connection && plan.Host is { } host)
        {
            if (connection.EarlyResolution is { } early && early.IsFor(host))
            {
                proxyRequest.Options.Set(UpstreamClientFactory.EarlyAddresses, early);
            }

            if (connection.EarlyUpstream is { } upstream && upstream.IsFor(host, plan.UpstreamUri!.Port))
            {
                proxyRequest.Options.Set(UpstreamClientFactory.EarlyConnection, upstream);
            }
        }
    }
}

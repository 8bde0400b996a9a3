using System.Text;
using HardenRunner.Events;
using HardenRunner.Insights.Permissions;
using HardenRunner.Proxy.Connection;
using Microsoft.AspNetCore.Http;

namespace HardenRunner.Proxy.GitHub;

/// <summary>
/// Notes, for requests to GitHub hosts that carry a credential, what the GITHUB_TOKEN recommendation needs (docs/insights.md):
/// the kind of token (never the token), the response status, GitHub's <c>X-Accepted-GitHub-Permissions</c> response
/// header, and for <c>POST …/graphql</c> a summary of the operation read from a bounded prefix of the body as it
/// streams to the upstream (the body is never held back or buffered whole).
/// <para>
/// It sits at one place: it is the proxy recorder's event sink and an HTTP middleware before the request handler. While
/// such a request is handled, the request's network event is held back and published once the response is done, with
/// <see cref="NetworkEvent.GitHub"/> filled in, so the store keeps one event per request. Every other event passes
/// straight through. The hold is per request (an <see cref="AsyncLocal{T}"/> set by the middleware), and the held event
/// is published even when the handler throws.
/// </para>
/// </summary>
internal sealed class GitHubCallObserver(IEventSink inner, PermissionTable table) : IEventSink
{
    /// <summary>Most bytes of a GraphQL body read for the summary.</summary>
    public const int MaxBodyPrefix = 64 * 1024;

    public const string AcceptedPermissionsHeader = "X-Accepted-GitHub-Permissions";

    private static readonly AsyncLocal<Pending?> s_pending = new();

    public void Publish(ApplianceEvent e)
    {
        if (e is NetworkEvent n && s_pending.Value is { } p && p.TryHold(n))
        {
            return;
        }

        inner.Publish(e);
    }

    /// <summary>The middleware: <c>app.Use(observer.InvokeAsync)</c>.</summary>
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var host = context.Features.Get<ProxyConnectionFeature>()?.ServerName ?? context.Request.Host.Host;
        var token = string.IsNullOrEmpty(host) || !table.Covers(host.TrimEnd('.')) ? null : TokenKind(context.Request.Headers.Authorization);
        if (token is null)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var pending = new Pending();
        PrefixCaptureStream? capture = null;
        if (HttpMethods.IsPost(context.Request.Method) && IsGraphQlPath(context.Request.Path.Value))
        {
            capture = new PrefixCaptureStream(context.Request.Body, MaxBodyPrefix);
            context.Request.Body = capture;
        }

        s_pending.Value = pending;
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            s_pending.Value = null;
            if (pending.Release() is { } held)
            {
                inner.Publish(held with { GitHub = Describe(context, token, capture) });
            }
        }
    }

    /// <summary>
    /// The kind of credential in <c>Authorization</c> values: <c>token|Bearer ghs_…</c> or Basic with a <c>ghs_</c>
    /// password (git sends <c>x-access-token:&lt;token&gt;</c>) is an installation token; null when there is none.
    /// </summary>
    public static string? TokenKind(IEnumerable<string?> authorization)
    {
        ArgumentNullException.ThrowIfNull(authorization);
        string? kind = null;
        foreach (var value in authorization)
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                continue;
            }

            var v = value.Trim();
            var space = v.IndexOf(' ', StringComparison.Ordinal);
            var scheme = space < 0 ? "" : v[..space];
            var credential = space < 0 ? v : v[(space + 1)..].Trim();
            if (scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
            {
                credential = BasicPassword(credential) ?? "";
            }

            var k = Classify(credential);
            if (k == GitHubCall.InstallationToken)
            {
                return k;
            }

            kind ??= k;
        }

        return kind;
    }

    private static string Classify(string credential) =>
        credential.StartsWith("ghs_", StringComparison.Ordinal) ? GitHubCall.InstallationToken
        : credential.StartsWith("ghp_", StringComparison.Ordinal) || credential.StartsWith("github_pat_", StringComparison.Ordinal)
          || credential.StartsWith("gho_", StringComparison.Ordinal) || credential.StartsWith("ghu_", StringComparison.Ordinal)
          || credential.StartsWith("ghr_", StringComparison.Ordinal) ? GitHubCall.PersonalToken
        : GitHubCall.OtherCredential;

    private static string? BasicPassword(string encoded)
    {
        if (encoded.Length > 4096)
        {
            return null;
        }

        var bytes = new byte[(encoded.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64String(encoded, bytes, out var n))
        {
            return null;
        }

        var text = Encoding.UTF8.GetString(bytes, 0, n);
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? null : text[(colon + 1)..];
    }

    private static bool IsGraphQlPath(string? path) =>
        path is not null && (path.Equals("/graphql", StringComparison.Ordinal) || path.EndsWith("/api/graphql", StringComparison.Ordinal));

    private static GitHubCall Describe(HttpContext context, string token, PrefixCaptureStream? capture)
    {
        var response = context.Response;
        string? accepted = null;
        if (response.Headers.TryGetValue(AcceptedPermissionsHeader, out var values) && values.Count > 0)
        {
            accepted = string.Join("; ", values.Where(v => !string.IsNullOrWhiteSpace(v)));
            accepted = accepted.Length == 0 ? null : accepted.Length > GitHubCall.MaxHeaderLength ? accepted[..GitHubCall.MaxHeaderLength] : accepted;
        }

        GraphQlSummary? graphQl = null;
        if (capture is not null)
        {
            graphQl = capture.Captured.Length == 0
                ? new GraphQlSummary(GraphQlSummary.Unknown, [], [], "the body was not read (the request was not forwarded)")
                : GraphQlOperationReader.FromBody(capture.Captured, complete: capture.Complete);
        }

        return new GitHubCall(token, response.HasStarted || response.StatusCode != StatusCodes.Status200OK ? response.StatusCode : null, accepted, graphQl);
    }

    /// <summary>One request's hold: the first network event published while it is handled.</summary>
    private sealed class Pending
    {
        private readonly Lock _gate = new();
        private NetworkEvent? _held;
        private bool _released;

        public bool TryHold(NetworkEvent e)
        {
            lock (_gate)
            {
                if (_released || _held is not null)
                {
                    return false;
                }

                _held = e;
                return true;
            }
        }

        public NetworkEvent? Release()
        {
            lock (_gate)
            {
                _released = true;
                return _held;
            }
        }
    }
}

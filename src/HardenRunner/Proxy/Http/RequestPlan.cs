using System.Net;
using HardenRunner.Policy.Model;

namespace HardenRunner.Proxy.Http;

/// <summary>
/// What the proxy does with one request (set as a request feature for the transformer). <see cref="RejectStatus"/> is
/// non-zero for requests that are never forwarded whatever the mode (malformed or unforwardable); otherwise
/// <see cref="Verdict"/> decides (block mode answers a denied request with 403; audit mode forwards it).
/// </summary>
internal sealed record RequestPlan(
    Verdict Verdict,
    string? Host,
    string Method,
    string Target,
    Uri? UpstreamUri,
    IPAddress? PreferredAddress,
    int RejectStatus = 0,
    string? FrontedHost = null);

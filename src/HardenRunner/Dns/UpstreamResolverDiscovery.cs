using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace HardenRunner.Dns;

/// <summary>The upstream resolvers could not be determined; the message says what to pass instead.</summary>
public sealed class UpstreamDiscoveryException(string message) : Exception(message);

/// <summary>
/// Finds the resolvers the DNS server forwards to: <c>--upstream-dns</c> when given, else the nameservers of
/// <c>/etc/resolv.conf</c>. A loopback nameserver is a local stub (systemd-resolved on 127.0.0.53, dnsmasq, Docker's
/// 127.0.0.11): forwarding to it would loop, because the stub's own upstream queries are redirected back to the
/// appliance. Loopback entries are therefore skipped, and when nothing else is left the stub's real upstreams are
/// read from systemd-resolved's <c>/run/systemd/resolve/resolv.conf</c>.
/// </summary>
public static class UpstreamResolverDiscovery
{
    public const string SystemResolvConf = "/etc/resolv.conf";
    public const string ResolvedUpstreamConf = "/run/systemd/resolve/resolv.conf";
    public const int DnsPort = 53;

    /// <summary>Discovers the upstreams from the real files.</summary>
    /// <param name="appliedBackupPath">
    /// Where <see cref="Hosting.ResolverConfig"/> keeps the original resolv.conf. When /etc/resolv.conf is the one
    /// harden-runner wrote (it names the appliance itself, e.g. after a crash), the original is read from there.
    /// </param>
    public static IReadOnlyList<IPEndPoint> Discover(string? appliedBackupPath = null) => Discover(ReadFileOrNull, appliedBackupPath);

    /// <summary>Discovers the upstreams; <paramref name="readFile"/> returns a file's text or null when it does not exist.</summary>
    public static IReadOnlyList<IPEndPoint> Discover(Func<string, string?> readFile, string? appliedBackupPath = null)
    {
        ArgumentNullException.ThrowIfNull(readFile);
        var system = readFile(SystemResolvConf);
        if (system is not null && system.StartsWith(Hosting.ResolverConfig.Marker, StringComparison.Ordinal))
        {
            // never forward to the appliance itself: use the original that ResolverConfig saved
            system = appliedBackupPath is null ? null : readFile(appliedBackupPath) ?? ReadLinkedBackup(readFile, appliedBackupPath);
        }
        var systemServers = system is null ? [] : ParseResolvConf(system);
        var usable = WithoutLoopback(systemServers);
        if (usable.Count > 0)
        {
            return usable;
        }

        var resolved = readFile(ResolvedUpstreamConf);
        if (resolved is not null)
        {
            var real = WithoutLoopback(ParseResolvConf(resolved));
            if (real.Count > 0)
            {
                return real;
            }
        }

        var what = system is null
            ? $"{SystemResolvConf} does not exist"
            : systemServers.Count == 0
                ? $"{SystemResolvConf} names no nameserver"
                : $"{SystemResolvConf} names only a local stub resolver ({string.Join(", ", systemServers.Select(s => s.Address))}) and its upstreams were not found in {ResolvedUpstreamConf}";
        throw new UpstreamDiscoveryException($"cannot determine the upstream DNS resolver: {what}; pass --upstream-dns ADDR[:PORT]");
    }

    /// <summary>The <c>nameserver</c> entries of a resolv.conf text, in order (port 53); unparseable entries are skipped.</summary>
    public static IReadOnlyList<IPEndPoint> ParseResolvConf(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var servers = new List<IPEndPoint>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.AsSpan();
            var comment = line.IndexOfAny('#', ';');
            if (comment >= 0)
            {
                line = line[..comment];
            }

            line = line.Trim();
            const string keyword = "nameserver";
            if (!line.StartsWith(keyword, StringComparison.Ordinal) || line.Length == keyword.Length || !char.IsWhiteSpace(line[keyword.Length]))
            {
                continue;
            }

            var value = line[keyword.Length..].Trim();
            var space = value.IndexOfAny(' ', '\t');
            if (space >= 0)
            {
                value = value[..space];
            }

            if (IPAddress.TryParse(value, out var address))
            {
                var ep = new IPEndPoint(address, DnsPort);
                if (!servers.Contains(ep))
                {
                    servers.Add(ep);
                }
            }
        }

        return servers;
    }

    /// <summary>
    /// Parses <c>--upstream-dns</c>: <c>192.0.2.53</c>, <c>192.0.2.53:5353</c>, <c>2001:db8::53</c>,
    /// <c>[2001:db8::53]</c> or <c>[2001:db8::53]:5353</c>. Only addresses: a name would need DNS to be found.
    /// Several may be given separated by commas or spaces.
    /// </summary>
    public static bool TryParseUpstreams(string text, out IReadOnlyList<IPEndPoint> upstreams, out string error)
    {
        ArgumentNullException.ThrowIfNull(text);
        var list = new List<IPEndPoint>();
        upstreams = list;
        foreach (var part in text.Split([',', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
        {
            if (!TryParseUpstream(part, out var ep, out error))
            {
                return false;
            }

            list.Add(ep);
        }

        if (list.Count == 0)
        {
            error = "--upstream-dns: no address given";
            return false;
        }

        error = "";
        return true;
    }

    /// <summary>Parses one <c>ADDR[:PORT]</c> (IPv6 with a port in brackets).</summary>
    public static bool TryParseUpstream(string text, out IPEndPoint endpoint, out string error)
    {
        ArgumentNullException.ThrowIfNull(text);
        endpoint = new IPEndPoint(IPAddress.None, 0);
        var s = text.Trim();
        string host;
        string? port = null;
        if (s.StartsWith('['))
        {
            var close = s.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                error = $"--upstream-dns '{text}': missing ']'";
                return false;
            }

            host = s[1..close];
            var rest = s[(close + 1)..];
            if (rest.Length > 0)
            {
                if (rest[0] != ':')
                {
                    error = $"--upstream-dns '{text}': expected ':PORT' after ']'";
                    return false;
                }

                port = rest[1..];
            }
        }
        else if (s.Count(c => c == ':') == 1)
        {
            var colon = s.IndexOf(':', StringComparison.Ordinal);
            host = s[..colon];
            port = s[(colon + 1)..];
        }
        else
        {
            host = s; // IPv4 without port, or bare IPv6 (no port possible without brackets)
        }

        if (!IPAddress.TryParse(host, out var address) || (address.AddressFamily == AddressFamily.InterNetwork && host.Count(c => c == '.') != 3))
        {
            error = $"--upstream-dns '{text}': '{host}' is not an IP address";
            return false;
        }

        var portNumber = DnsPort;
        if (port is not null && (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out portNumber) || portNumber is < 1 or > 65535))
        {
            error = $"--upstream-dns '{text}': '{port}' is not a port (1-65535)";
            return false;
        }

        endpoint = new IPEndPoint(address, portNumber);
        error = "";
        return true;
    }

    private static List<IPEndPoint> WithoutLoopback(IReadOnlyList<IPEndPoint> servers) =>
        [.. servers.Where(s => !IsLocal(s.Address.IsIPv4MappedToIPv6 ? s.Address.MapToIPv4() : s.Address))];

    /// <summary>Loopback, or the unspecified address (which glibc takes to mean this host).</summary>
    private static bool IsLocal(IPAddress a) => IPAddress.IsLoopback(a) || a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any);

    /// <summary>A resolv.conf that was a symlink is saved as the link's target path in <c>BACKUP.link</c>.</summary>
    private static string? ReadLinkedBackup(Func<string, string?> readFile, string backupPath)
    {
        var target = readFile(backupPath + ".link")?.Trim();
        if (string.IsNullOrEmpty(target))
        {
            return null;
        }

        if (!Path.IsPathRooted(target))
        {
            target = Path.Combine(Path.GetDirectoryName(SystemResolvConf)!, target);
        }

        return readFile(target);
    }

    private static string? ReadFileOrNull(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }
}

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using HardenRunner.Linux;

namespace HardenRunner.Tests.TestSupport;

/// <summary>
/// A throwaway topology for root-only tests: a "runner" namespace and a "peer" (fake internet) namespace joined by
/// a veth pair, optionally a "container" namespace routed through the runner over a veth that stands in for a
/// container bridge. Names are unique (<c>hr</c> + random hex), so parallel runs never collide;
/// Dispose deletes every namespace (and with them the links). Nothing here touches the host's own namespace.
/// </summary>
/// <remarks>
/// Addresses: runner 192.0.2.1 / 2001:db8::1 (default routes via the peer); peer 192.0.2.2, 192.0.2.3 / 2001:db8::2, 2001:db8::3;
/// container 198.51.100.2 / 2001:db8:c::2 behind the runner's 198.51.100.1 / 2001:db8:c::1.
/// </remarks>
[SupportedOSPlatform("linux")]
public sealed class NetnsFixture : IDisposable
{
    public static readonly IPAddress RunnerV4 = IPAddress.Parse("192.0.2.1");
    public static readonly IPAddress PeerV4 = IPAddress.Parse("192.0.2.2");
    public static readonly IPAddress PeerV4b = IPAddress.Parse("192.0.2.3");
    public static readonly IPAddress RunnerV6 = IPAddress.Parse("2001:db8::1");
    public static readonly IPAddress PeerV6 = IPAddress.Parse("2001:db8::2");
    public static readonly IPAddress PeerV6b = IPAddress.Parse("2001:db8::3");
    public static readonly IPAddress ContainerV4 = IPAddress.Parse("198.51.100.2");
    public static readonly IPAddress ContainerV6 = IPAddress.Parse("2001:db8:c::2");

    private readonly List<string> _namespaces = [];

    private NetnsFixture(string id)
    {
        Id = id;
        Runner = $"hr{id}run";
        Peer = $"hr{id}peer";
        Container = $"hr{id}ctr";
        ContainerLink = $"hrk{id}";
    }

    public string Id { get; }

    /// <summary>An interface pattern that matches <see cref="ContainerLink"/> (and no other link of the runner).</summary>
    public const string ContainerPattern = "hrk*";

    public string Runner { get; }

    public string Peer { get; }

    public string Container { get; }

    /// <summary>Runner-side name of the container link; tests add <see cref="ContainerPattern"/> to the firewall's container interfaces.</summary>
    public string ContainerLink { get; }

    /// <summary>Why root-only tests cannot run here, or null when they can.</summary>
    public static string? Unavailable
    {
        get
        {
            if (!OperatingSystem.IsLinux())
            {
                return "needs Linux";
            }

            if (!Environment.IsPrivilegedProcess)
            {
                return "needs root (creates network namespaces)";
            }

            if (!File.Exists("/usr/sbin/ip") && !File.Exists("/sbin/ip") && !File.Exists("/usr/bin/ip"))
            {
                return "needs iproute2 (ip)";
            }

            return null;
        }
    }

    /// <summary>Creates runner + peer (and optionally a container namespace). Cleans up what it made if a step fails.</summary>
    public static NetnsFixture Create(bool withContainer = false)
    {
        var f = new NetnsFixture(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3)));
        try
        {
            f.Build(withContainer);
            return f;
        }
        catch
        {
            f.Dispose();
            throw;
        }
    }

    /// <summary>Runs a command inside a namespace (<c>ip netns exec</c>); throws with its stderr when it fails.</summary>
    public string Exec(string ns, params string[] args) => Run("ip", ["netns", "exec", ns, .. args]);

    /// <summary>Runs a command inside a namespace and returns its exit code and output without throwing.</summary>
    public (int ExitCode, string Output) TryExec(string ns, TimeSpan timeout, params string[] args) =>
        RunRaw("ip", ["netns", "exec", ns, .. args], timeout);

    /// <summary>A socket created in <paramref name="ns"/> (a socket keeps its namespace for life).</summary>
    public static Socket CreateSocket(string ns, AddressFamily family, SocketType type, ProtocolType protocol)
    {
        using var thread = new DedicatedThread("netns-socket", ns);
        return thread.InvokeAsync(() => new Socket(family, type, protocol)).GetAwaiter().GetResult();
    }

    public void Dispose()
    {
        foreach (var ns in Enumerable.Reverse(_namespaces))
        {
            RunRaw("ip", ["netns", "delete", ns], TimeSpan.FromSeconds(10));
        }

        _namespaces.Clear();
    }

    public static string Run(string file, IReadOnlyList<string> args)
    {
        var (code, output) = RunRaw(file, args, TimeSpan.FromSeconds(20));
        if (code != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({code}): {output}");
        }

        return output;
    }

    public static (int ExitCode, string Output) RunRaw(string file, IReadOnlyList<string> args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            return (-1, $"timed out after {timeout.TotalSeconds:0} s: {stdout.Result}{stderr.Result}");
        }

        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    private void AddNamespace(string name)
    {
        Run("ip", ["netns", "add", name]);
        _namespaces.Add(name);
        Exec(name, "ip", "link", "set", "lo", "up");
    }

    private void Build(bool withContainer)
    {
        AddNamespace(Runner);
        AddNamespace(Peer);
        Run("ip", ["link", "add", $"hr{Id}a", "netns", Runner, "type", "veth", "peer", "name", $"hr{Id}b", "netns", Peer]);
        Exec(Runner, "ip", "addr", "add", "192.0.2.1/24", "dev", $"hr{Id}a");
        Exec(Runner, "ip", "addr", "add", "2001:db8::1/64", "dev", $"hr{Id}a", "nodad");
        Exec(Runner, "ip", "link", "set", $"hr{Id}a", "up");
        Exec(Peer, "ip", "addr", "add", "192.0.2.2/24", "dev", $"hr{Id}b");
        Exec(Peer, "ip", "addr", "add", "192.0.2.3/24", "dev", $"hr{Id}b");
        Exec(Peer, "ip", "addr", "add", "2001:db8::2/64", "dev", $"hr{Id}b", "nodad");
        Exec(Peer, "ip", "addr", "add", "2001:db8::3/64", "dev", $"hr{Id}b", "nodad");
        Exec(Peer, "ip", "link", "set", $"hr{Id}b", "up");

        // the peer is the runner's "internet": any address routes there (and nowhere else: the peer has no uplink)
        Exec(Runner, "ip", "route", "add", "default", "via", "192.0.2.2");
        Exec(Runner, "ip", "-6", "route", "add", "default", "via", "2001:db8::2");
        if (!withContainer)
        {
            return;
        }

        AddNamespace(Container);
        Run("ip", ["link", "add", ContainerLink, "netns", Runner, "type", "veth", "peer", "name", $"hr{Id}c", "netns", Container]);
        Exec(Runner, "ip", "addr", "add", "198.51.100.1/24", "dev", ContainerLink);
        Exec(Runner, "ip", "addr", "add", "2001:db8:c::1/64", "dev", ContainerLink, "nodad");
        Exec(Runner, "ip", "link", "set", ContainerLink, "up");
        Exec(Runner, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1");
        Exec(Container, "ip", "addr", "add", "198.51.100.2/24", "dev", $"hr{Id}c");
        Exec(Container, "ip", "addr", "add", "2001:db8:c::2/64", "dev", $"hr{Id}c", "nodad");
        Exec(Container, "ip", "link", "set", $"hr{Id}c", "up");
        Exec(Container, "ip", "route", "add", "default", "via", "198.51.100.1");
        Exec(Container, "ip", "-6", "route", "add", "default", "via", "2001:db8:c::1");
        Exec(Peer, "ip", "route", "add", "198.51.100.0/24", "via", "192.0.2.1");
        Exec(Peer, "ip", "-6", "route", "add", "2001:db8:c::/64", "via", "2001:db8::1");
    }
}

namespace HardenRunner.Lab;

/// <summary>What to build. The defaults are what most tests need; change the lists before <c>Lab.StartAsync</c>.</summary>
public sealed class LabOptions
{
    /// <summary>Fake hosts (default <see cref="LabHosts.Defaults"/>). Free addresses: 198.51.100.100–199, 2001:db8:100::100–199.</summary>
    public List<LabHost> Hosts { get; } = [.. LabHosts.Defaults];

    /// <summary>Extra zone records; by default <c>alias.test CNAME allowed.test</c>.</summary>
    public List<LabDnsRecord> DnsRecords { get; } = [LabDnsRecord.Cname("alias.test", "allowed.test")];

    /// <summary>Raw TCP recorder ports on every host (80 and 443 are the web servers).</summary>
    public List<int> TcpPorts { get; } = [22, 9000];

    /// <summary>UDP recorder ports on every host (443/udp stands for QUIC).</summary>
    public List<int> UdpPorts { get; } = [443, 9001];

    /// <summary>
    /// Directories overlaid (copy-on-write, upper layer on a tmpfs that lives only in the runner's mount namespace),
    /// so that nothing done inside the runner reaches the host. /etc and /usr/local are always included (they hold
    /// resolv.conf, /etc/ssl, /etc/ca-certificates.conf, /usr/local/share/ca-certificates). By default this list
    /// holds the home directory too (so <c>git config --global</c>, npm or pip caches stay in the lab); add e.g.
    /// /var/lib here.
    /// </summary>
    public List<string> ExtraPrivateDirectories { get; } = [.. DefaultHome()];

    /// <summary>Give the runner default routes via the internet namespace (which answers only lab addresses).</summary>
    public bool RunnerDefaultRoute { get; set; } = true;

    /// <summary>
    /// Add a "container" network namespace (<c>{Id}-c</c>) behind a bridge <c>br-hrlab</c> in the runner namespace
    /// (198.18.0.0/24, 2001:db8:c::/64; the bridge is the gateway, the runner forwards, no NAT); run programs in it
    /// with <c>RunInContainerAsync</c>. Its traffic crosses the runner's forward path, as Docker's does.
    /// </summary>
    public bool Container { get; set; }

    /// <summary>
    /// With <see cref="Container"/>: connect the container the way routed CNIs (Calico, Cilium) connect a pod — a veth
    /// whose host side (<c>calihrlab0</c>) is routed by the runner, no bridge — instead of through <c>br-hrlab</c>.
    /// </summary>
    public bool ContainerRouted { get; set; }

    /// <summary>How long to wait for namespaces, mounts and the ready marker of the lab internet.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Path of HardenRunner.LabInternet.dll; found automatically when null (see README).</summary>
    public string? LabInternetPath { get; set; }

    private static IEnumerable<string> DefaultHome()
    {
        var home = Environment.GetEnvironmentVariable("HOME");
        return !string.IsNullOrEmpty(home) && home != "/" && Directory.Exists(home) && !Path.GetTempPath().StartsWith(home, StringComparison.Ordinal)
            ? [home]
            : [];
    }
}

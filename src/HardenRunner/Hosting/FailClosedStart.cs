using HardenRunner.Netfilter;
using HardenRunner.Policy.Loading;
using HardenRunner.Policy.Model;

namespace HardenRunner.Hosting;

/// <summary>
/// Block mode's answer to a start that cannot complete (issue #3, lifecycle; docs/firewall.md, fail-closed
/// behaviour): egress is left closed and the run exits non-zero saying how to recover. When the run's own table is
/// not in place yet (an invalid policy, a failure before the table), the <em>closed table</em> is installed: the
/// firewall's table built from a block-mode policy that allows nothing — loopback, established flows and the
/// appliance's marked sockets pass, every other new flow is dropped, and DNS and web traffic are redirected to the
/// appliance's ports where nothing listens, so they are refused. The next run replaces it atomically.
/// </summary>
public static class FailClosedStart
{
    /// <summary>How a user gets egress back after a failed block-mode start.</summary>
    public const string Recovery =
        "to recover, fix the problem and start again (the next run replaces the table atomically), or remove the table with 'nft delete table inet harden_runner'";

    /// <summary>The port of the DNS listener for containers: the one after the DNS port (the one before at 65535).</summary>
    public static int ContainerDnsPort(int dnsPort) => dnsPort < 65535 ? dnsPort + 1 : dnsPort - 1;

    /// <summary>The firewall options of the closed table: a block-mode policy with nothing allowed and no upstream resolver.</summary>
    public static FirewallOptions ClosedTableOptions(int dnsPort) =>
        FirewallOptions.FromPolicy(PolicyDocument.Default with { EgressPolicy = EgressMode.Block }, dnsPort, Appliance.HttpProxyPort, Appliance.HttpsProxyPort, [])
            with { ContainerDnsPort = ContainerDnsPort(dnsPort) };

    /// <summary>
    /// The mode the user asked for when the policy could not be loaded: <c>--egress-policy</c>, else the file's own
    /// top-level <c>egress-policy</c> if it can still be read (<see cref="EgressPolicyProbe"/>); null when unknown.
    /// </summary>
    public static EgressMode? RequestedMode(ApplianceOptions options, Func<string, string?> env, string currentDirectory)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.EgressOverride is { } mode)
        {
            return mode;
        }

        if (options.ResolvePolicyPath(env, currentDirectory) is not { } path)
        {
            return null;
        }

        try
        {
            return EgressPolicyProbe.Read(File.ReadAllText(path));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// The policy is invalid (its diagnostics are already printed): in block mode installs the closed table; in audit
    /// mode, or when the mode is unknown, changes nothing (a typo must not break an audit-mode job). Returns exit code 2.
    /// </summary>
    public static async Task<int> RefuseInvalidPolicyAsync(ApplianceOptions options, TextWriter stderr, Func<string, string?> env, string currentDirectory)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(stderr);
        if (RequestedMode(options, env, currentDirectory) != EgressMode.Block)
        {
            stderr.WriteLine("harden-runner: refusing to start: the policy is invalid (see above); nothing was changed.");
            return 2;
        }

        var why = options.EgressOverride == EgressMode.Block ? "--egress-policy block" : "the policy file says egress-policy: block";
        stderr.WriteLine($"harden-runner: refusing to start: the policy is invalid (see above); block mode was requested ({why}).");
        if (!Environment.IsPrivilegedProcess)
        {
            stderr.WriteLine("harden-runner: block mode: egress could NOT be closed: installing the firewall table needs root (CAP_NET_ADMIN); nothing was changed.");
            return 2;
        }

        if (!ApplianceInstanceLock.TryAcquire(out var holder))
        {
            // the running appliance's table stays: egress is as closed as its policy makes it
            stderr.WriteLine($"harden-runner: block mode: another appliance{(holder > 0 ? $" (pid {holder})" : "")} is enforcing in this network namespace; its firewall table was left in place.");
            return 2;
        }

        if (await TryApplyClosedTableAsync(options.DnsPort, stderr).ConfigureAwait(false))
        {
            stderr.WriteLine("harden-runner: block mode: egress is closed: table inet harden_runner allows nothing (loopback only, DNS is not answered); "
                + "to recover, fix the policy and start again (the next run replaces the table atomically), or remove the table with 'nft delete table inet harden_runner'.");
        }

        return 2;
    }

    /// <summary>
    /// A block-mode start failed after the policy was loaded: keeps the run's table if it was applied, otherwise
    /// installs the closed table, and says so.
    /// </summary>
    public static async Task LeaveClosedAsync(bool tableApplied, int dnsPort, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(stderr);
        if (tableApplied)
        {
            stderr.WriteLine($"harden-runner: block mode: egress stays closed: the run's table inet harden_runner stays in place (only what the policy allows by address passes; DNS and web traffic are refused); {Recovery}.");
        }
        else if (await TryApplyClosedTableAsync(dnsPort, stderr).ConfigureAwait(false))
        {
            stderr.WriteLine($"harden-runner: block mode: egress is closed: table inet harden_runner allows nothing (loopback only, DNS is not answered); {Recovery}.");
        }
    }

    /// <summary>Installs the closed table (replacing any table of ours in one transaction); false, with the reason printed, if that failed.</summary>
    private static async Task<bool> TryApplyClosedTableAsync(int dnsPort, TextWriter stderr)
    {
        try
        {
            using var nft = new LibNftables();
            await nft.RunAsync(NftRulesetBuilder.Build(ClosedTableOptions(dnsPort)), NftOutput.None, CancellationToken.None).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is NftablesException or ArgumentException or DllNotFoundException or EntryPointNotFoundException or InvalidOperationException or IOException)
        {
            stderr.WriteLine($"harden-runner: block mode: egress could NOT be closed: installing table inet harden_runner failed: {ex.Message}");
            return false;
        }
    }
}

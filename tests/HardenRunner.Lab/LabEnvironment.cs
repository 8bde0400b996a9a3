namespace HardenRunner.Lab;

/// <summary>Whether this process can build a lab, and the reason to give a skipped test when it cannot.</summary>
public static class LabEnvironment
{
    /// <summary>Network namespaces, veth pairs and mounts need root (CAP_SYS_ADMIN + CAP_NET_ADMIN).</summary>
    public static bool IsRoot => Environment.IsPrivilegedProcess;

    /// <summary>Linux and root; CI runs as root, so there these tests always run.</summary>
    public static bool CanRun => OperatingSystem.IsLinux() && IsRoot;

    /// <summary>
    /// CI=true (set by .ci/run): CI runs as root, so there a lab test that cannot run must fail with
    /// <see cref="SkipReason"/> rather than skip (tests/HardenRunner.Tests/TestSupport/LabRequirement.cs).
    /// </summary>
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Null when <see cref="CanRun"/>; otherwise a sentence for <c>Skip.IfNot(…, reason)</c>.</summary>
    public static string? SkipReason =>
        !OperatingSystem.IsLinux() ? "the lab needs Linux network namespaces"
        : !IsRoot ? "the lab needs root to create network namespaces, veth pairs and mounts (run as root; CI does)"
        : null;
}

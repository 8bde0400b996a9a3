using System.Globalization;

namespace HardenRunner.Proxy;

/// <summary>An inclusive range of TCP ports.</summary>
public readonly record struct PortRange
{
    private const string EphemeralRangePath = "/proc/sys/net/ipv4/ip_local_port_range";

    /// <summary>Fewer ports than this outside the ephemeral range is too few to rely on; the kernel then chooses.</summary>
    private const int MinimumSize = 512;

    public PortRange(int first, int last)
    {
        if (first is < 1 or > 65535 || last is < 1 or > 65535 || last < first)
        {
            throw new ArgumentException($"port range {first}-{last} is not within 1-65535 with first <= last");
        }

        First = first;
        Last = last;
    }

    public int First { get; }

    public int Last { get; }

    public int Count => Last - First + 1;

    public bool Contains(int port) => port >= First && port <= Last;

    public override string ToString() => $"{First}-{Last}";

    /// <summary>
    /// The ports above the kernel's ephemeral range (<c>net.ipv4.ip_local_port_range</c>, which IPv6 shares), or below
    /// it (from 1024) when too few are left above; null when neither side has enough ports (the kernel then chooses).
    /// </summary>
    public static PortRange? OutsideEphemeral() => OutsideEphemeral(ReadEphemeral());

    internal static PortRange? OutsideEphemeral((int First, int Last)? ephemeral)
    {
        if (ephemeral is not { } e)
        {
            return null;
        }

        if (65535 - e.Last >= MinimumSize)
        {
            return new PortRange(e.Last + 1, 65535);
        }

        return e.First - 1024 >= MinimumSize ? new PortRange(1024, e.First - 1) : null;
    }

    internal static (int First, int Last)? ParseEphemeral(string? text)
    {
        var parts = (text ?? "").Split([' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
        return parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var first)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var last)
            && first is >= 1 and <= 65535 && last >= first && last <= 65535
            ? (first, last)
            : null;
    }

    private static (int First, int Last)? ReadEphemeral()
    {
        try
        {
            return ParseEphemeral(File.ReadAllText(EphemeralRangePath));
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}

using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using HardenRunner.Policy.Matching;

namespace HardenRunner.Tls;

/// <summary>
/// A name a leaf certificate may be minted for: a DNS name in its ASCII (punycode) form, lower case, without a
/// trailing dot, or an IP address literal. Anything else (empty, wildcards, spaces, control characters, over-long
/// labels, a numeric top-level label, zone ids) is rejected, so a hostile SNI cannot shape an odd certificate.
/// </summary>
public sealed record ServerName
{
    private static readonly IdnMapping Idn = new() { AllowUnassigned = false, UseStd3AsciiRules = false };

    private ServerName(string value, IPAddress? address)
    {
        Value = value;
        Address = address;
    }

    /// <summary>The normalised name (the cache key and the SAN value).</summary>
    public string Value { get; }

    /// <summary>The address when the name is an IP literal (the SAN is then an iPAddress), else null.</summary>
    public IPAddress? Address { get; }

    public override string ToString() => Value;

    /// <summary>Parses and normalises <paramref name="input"/>; false when it is not a name a certificate may carry.</summary>
    public static bool TryParse(string? input, [NotNullWhen(true)] out ServerName? name) =>
        (name = ParseOrNull(input, out _)) is not null;

    /// <exception cref="ArgumentException">The input is not a valid DNS name or address literal (the message says why).</exception>
    public static ServerName Parse(string? input) =>
        ParseOrNull(input, out var reason) ?? throw new ArgumentException($"not a valid server name: {reason}", nameof(input));

    private static ServerName? ParseOrNull(string? input, out string reason)
    {
        if (string.IsNullOrWhiteSpace(input))
        {
            reason = "empty";
            return null;
        }

        if (input.Length > 300)
        {
            reason = "longer than 253 characters";
            return null;
        }

        var address = ParseAddress(input);
        if (address is not null)
        {
            reason = "";
            return new ServerName(address.ToString(), address);
        }

        if (input.Contains(':', StringComparison.Ordinal) || input.Contains('%', StringComparison.Ordinal))
        {
            reason = "an invalid address literal";
            return null;
        }

        var normalized = HostName.Normalize(input);
        if (normalized is null)
        {
            reason = "not a DNS name (letters, digits, '-' and '_' in labels of 1 to 63 characters)";
            return null;
        }

        var lastLabel = normalized[(normalized.LastIndexOf('.') + 1)..];
        if (lastLabel.All(char.IsAsciiDigit))
        {
            reason = "a numeric top-level label (neither a DNS name nor an IPv4 address)";
            return null;
        }

        if (normalized.Contains("xn--", StringComparison.Ordinal) && !IsSafeIdn(normalized))
        {
            reason = "an internationalised label that does not decode to letters, marks and digits";
            return null;
        }

        reason = "";
        return new ServerName(normalized, null);
    }

    /// <summary>
    /// The A-labels of <paramref name="ascii"/> decode (punycode) to letters, combining marks and digits only. With
    /// invariant globalization .NET encodes any character (bidi overrides, zero-width joiners) without the IDNA
    /// checks, so they are applied here.
    /// </summary>
    private static bool IsSafeIdn(string ascii)
    {
        string unicode;
        try
        {
            unicode = Idn.GetUnicode(ascii);
        }
        catch (ArgumentException)
        {
            return false;
        }

        foreach (var c in unicode)
        {
            if (c <= 0x7f)
            {
                continue;
            }

            var ok = char.GetUnicodeCategory(c) is UnicodeCategory.LowercaseLetter or UnicodeCategory.UppercaseLetter
                or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter
                or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark
                or UnicodeCategory.DecimalDigitNumber;
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Strict literals only: dotted-quad IPv4 without leading zeros, IPv6 (optionally in brackets) without a zone id.</summary>
    private static IPAddress? ParseAddress(string input)
    {
        var s = input.AsSpan().Trim();
        if (s.Length > 2 && s[0] == '[' && s[^1] == ']')
        {
            s = s[1..^1];
        }

        if (s.Contains(':'))
        {
            return !s.Contains('%') && IPAddress.TryParse(s, out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6
                ? v6
                : null;
        }

        Span<Range> parts = stackalloc Range[5];
        if (s.Split(parts, '.') != 4)
        {
            return null;
        }

        Span<byte> bytes = stackalloc byte[4];
        for (var i = 0; i < 4; i++)
        {
            var part = s[parts[i]];
            if (part.IsEmpty || part.Length > 3 || (part.Length > 1 && part[0] == '0') || !IsDigits(part)
                || !byte.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out bytes[i]))
            {
                return null;
            }
        }

        return new IPAddress(bytes);
    }

    private static bool IsDigits(ReadOnlySpan<char> s)
    {
        foreach (var c in s)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}

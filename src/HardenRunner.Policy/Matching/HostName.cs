using System.Globalization;

namespace HardenRunner.Policy.Matching;

/// <summary>Normalisation and validation of DNS names as the policy compares them: ASCII (punycode) form, lower case, no trailing dot.</summary>
public static class HostName
{
    private static readonly IdnMapping Idn = new() { AllowUnassigned = false, UseStd3AsciiRules = false };

    /// <summary>Normalises a name for storage in the compiled policy (allocates; used at load time and for rare non-ASCII input).</summary>
    /// <returns>The normalised name, or null when the name is not a valid DNS name.</returns>
    public static string? Normalize(string name)
    {
        var span = name.AsSpan().Trim();
        if (span.EndsWith('.'))
        {
            span = span[..^1];
        }

        if (span.IsEmpty)
        {
            return null;
        }

        string ascii;
        if (IsAscii(span))
        {
            ascii = span.ToString().ToLowerInvariant();
        }
        else
        {
            try
            {
                // lower-case first: punycode encodes 'Ü' and 'ü' differently, and the IDNA mapping is not
                // applied in invariant-globalization mode, so 'BÜCHER.example' must become 'bücher.example' here
                ascii = Idn.GetAscii(span.ToString().ToLowerInvariant()).ToLowerInvariant();
            }
            catch (ArgumentException)
            {
                return null;
            }
        }

        return IsValidAsciiName(ascii) ? ascii : null;
    }

    /// <summary>True when every character is ASCII.</summary>
    public static bool IsAscii(ReadOnlySpan<char> s)
    {
        foreach (var c in s)
        {
            if (c > 0x7f)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// A name of letters, digits, '-' and '_' in labels of 1..63 characters, 253 in all. '_' is accepted because
    /// real service names (_dmarc, SRV owners) use it; the policy only compares names, it does not publish them.
    /// </summary>
    public static bool IsValidAsciiName(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty || name.Length > 253)
        {
            return false;
        }

        var labelLength = 0;
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (c == '.')
            {
                if (labelLength == 0 || name[i - 1] == '-')
                {
                    return false;
                }

                labelLength = 0;
                continue;
            }

            var ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' or '-';
            if (!ok || (c == '-' && labelLength == 0))
            {
                return false;
            }

            if (++labelLength > 63)
            {
                return false;
            }
        }

        return labelLength > 0 && name[^1] != '-';
    }

    /// <summary>Strips one trailing dot for comparison without allocating.</summary>
    public static ReadOnlySpan<char> TrimTrailingDot(ReadOnlySpan<char> name) =>
        name.Length > 0 && name[^1] == '.' ? name[..^1] : name;
}

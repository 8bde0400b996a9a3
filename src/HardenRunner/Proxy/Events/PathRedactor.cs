using System.Text;
using System.Text.RegularExpressions;

namespace HardenRunner.Proxy.Events;

/// <summary>
/// Makes a request target safe to record: values of query parameters whose names look secret (token, key, secret,
/// password, sig, code, …) are replaced, and so are known token shapes (GitHub <c>ghp_</c>/<c>ghs_</c>/…,
/// <c>github_pat_</c>, GitLab, Slack, npm, AWS access key ids, JWTs) anywhere in the path or query. Over-long targets
/// are cut. Pure.
/// </summary>
internal static partial class PathRedactor
{
    public const string Redacted = "[REDACTED]";

    /// <summary>Longest recorded target; the rest is cut and marked with "…".</summary>
    public const int MaxLength = 2048;

    private static readonly string[] SecretNameParts =
    [
        "token", "secret", "passw", "pwd", "signature", "credential", "apikey", "api_key", "api-key", "private",
        "session", "authorization", "auth_", "-auth", "jwt", "bearer", "cookie",
    ];

    private static readonly HashSet<string> SecretNames = new(StringComparer.OrdinalIgnoreCase)
    {
        "key", "code", "sig", "auth", "pass", "otp", "sid", "client_assertion", "assertion", "state", "nonce",
    };

    public static string Redact(string? target)
    {
        if (string.IsNullOrEmpty(target))
        {
            return target ?? "";
        }

        var q = target.IndexOf('?', StringComparison.Ordinal);
        var path = q < 0 ? target : target[..q];
        var result = new StringBuilder(Math.Min(target.Length, MaxLength + 16));
        result.Append(RedactTokens(path));
        if (q >= 0)
        {
            result.Append('?');
            var first = true;
            foreach (var pair in target[(q + 1)..].Split('&'))
            {
                if (!first)
                {
                    result.Append('&');
                }

                first = false;
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                var name = eq < 0 ? pair : pair[..eq];
                if (eq >= 0 && IsSecretName(Decode(name)))
                {
                    result.Append(RedactTokens(name)).Append('=').Append(Redacted);
                }
                else
                {
                    result.Append(RedactTokens(pair));
                }
            }
        }

        return result.Length > MaxLength ? string.Concat(result.ToString(0, MaxLength), "…") : result.ToString();
    }

    /// <summary>True when a parameter (or header) name suggests its value is a credential.</summary>
    public static bool IsSecretName(string name)
    {
        if (SecretNames.Contains(name))
        {
            return true;
        }

        var lower = name.ToLowerInvariant();
        if (lower.EndsWith("key", StringComparison.Ordinal) || lower.EndsWith("sig", StringComparison.Ordinal))
        {
            return true;
        }

        foreach (var part in SecretNameParts)
        {
            if (lower.Contains(part, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Replaces every known token shape in <paramref name="text"/>.</summary>
    public static string RedactTokens(string text) => TokenShapes().Replace(text, Redacted);

    private static string Decode(string name)
    {
        try
        {
            return Uri.UnescapeDataString(name.Replace('+', ' '));
        }
        catch (UriFormatException)
        {
            return name;
        }
    }

    [GeneratedRegex(
        @"(gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,}|glpat-[A-Za-z0-9_\-]{16,}|xox[abposr]-[A-Za-z0-9\-]{8,}|npm_[A-Za-z0-9]{30,}|(?:AKIA|ASIA)[0-9A-Z]{16}|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*)",
        RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture,
        matchTimeoutMilliseconds: 1000)]
    private static partial Regex TokenShapes();
}

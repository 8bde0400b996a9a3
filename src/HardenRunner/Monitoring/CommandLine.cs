using System.Text;
using System.Text.RegularExpressions;

namespace HardenRunner.Monitoring;

/// <summary>
/// Builds the recorded command line from /proc/&lt;pid&gt;/cmdline (NUL-separated arguments) and splits it again for the
/// detectors. The text is redacted as it is built (<see cref="CommandLineRedactor"/>), so no copy with a credential
/// in it leaves the monitor.
/// </summary>
internal static class CommandLine
{
    public const string Ellipsis = "…";

    /// <summary>Joins NUL-separated arguments; quotes arguments with whitespace or quotes; redacts credentials.</summary>
    public static string Format(ReadOnlySpan<byte> raw, bool truncated)
    {
        if (raw.IsEmpty)
        {
            return "";
        }

        var sb = new StringBuilder(raw.Length + 8);
        var first = true;
        foreach (var range in raw.Split((byte)0))
        {
            var arg = raw[range];
            if (arg.IsEmpty && range.End.GetOffset(raw.Length) == raw.Length)
            {
                break; // the trailing NUL
            }

            if (!first)
            {
                sb.Append(' ');
            }

            first = false;
            AppendQuoted(sb, Encoding.UTF8.GetString(arg));
        }

        if (truncated)
        {
            sb.Append(Ellipsis);
        }

        return CommandLineRedactor.Redact(sb.ToString());
    }

    /// <summary>Splits a command line built by <see cref="Format"/> back into arguments (double quotes group, \" escapes).</summary>
    public static List<string> Split(string commandLine)
    {
        var args = new List<string>();
        var current = new StringBuilder();
        var inQuotes = false;
        var has = false;
        for (var i = 0; i < commandLine.Length; i++)
        {
            var c = commandLine[i];
            if (inQuotes)
            {
                if (c == '\\' && i + 1 < commandLine.Length && commandLine[i + 1] is '"' or '\\')
                {
                    current.Append(commandLine[++i]);
                }
                else if (c == '"')
                {
                    inQuotes = false;
                }
                else
                {
                    current.Append(c);
                }
            }
            else if (c == '"')
            {
                inQuotes = true;
                has = true;
            }
            else if (c == ' ')
            {
                if (has || current.Length > 0)
                {
                    args.Add(current.ToString());
                    current.Clear();
                    has = false;
                }
            }
            else
            {
                current.Append(c);
            }
        }

        if (has || current.Length > 0)
        {
            args.Add(current.ToString());
        }

        return args;
    }

    /// <summary>The file name part of a path-like argument (after the last '/').</summary>
    public static string BaseName(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "";
        }

        var slash = path.LastIndexOf('/');
        return slash < 0 ? path : path[(slash + 1)..];
    }

    private static void AppendQuoted(StringBuilder sb, string arg)
    {
        var needs = arg.Length == 0;
        foreach (var c in arg)
        {
            if (char.IsWhiteSpace(c) || c == '"')
            {
                needs = true;
                break;
            }
        }

        if (!needs)
        {
            sb.Append(arg);
            return;
        }

        sb.Append('"');
        foreach (var c in arg)
        {
            if (c is '"' or '\\')
            {
                sb.Append('\\');
            }

            sb.Append(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
        }

        sb.Append('"');
    }
}

/// <summary>
/// Removes credentials from a command line (DESIGN §5: secrets never appear): HTTP authorization headers given on the
/// command line (git's <c>-c http.extraheader="AUTHORIZATION: basic …"</c>), base64 of <c>x-access-token:…</c>, GitHub
/// token shapes (<c>ghp_</c>, <c>gho_</c>, <c>ghu_</c>, <c>ghs_</c>, <c>ghr_</c>, <c>github_pat_</c>), passwords in URLs and
/// <c>--password</c>/<c>--token</c>-style options. A local, conservative copy: the report writer redacts again.
/// </summary>
internal static partial class CommandLineRedactor
{
    public const string Mask = "***";

    public static string Redact(string text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text;
        }

        var s = AuthorizationHeader().Replace(text, m => m.Groups["head"].Value + Mask);
        s = AccessTokenBase64().Replace(s, Mask);
        s = GitHubToken().Replace(s, Mask);
        s = UrlPassword().Replace(s, m => m.Groups["head"].Value + Mask + "@");
        s = SecretOption().Replace(s, m => m.Groups["head"].Value + Mask);
        return s;
    }

    // "Authorization: basic xxx", "AUTHORIZATION: bearer xxx", "Authorization: token xxx", "Authorization: xxx"
    [GeneratedRegex(@"(?<head>(?:proxy-)?authorization\s*:\s*(?:(?:basic|bearer|token|digest|negotiate)\s+)?)[^\s""']+", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex AuthorizationHeader();

    // base64("x-access-token:") is exactly 20 characters, so the prefix survives any token after it
    [GeneratedRegex(@"eC1hY2Nlc3MtdG9rZW46[A-Za-z0-9+/=]*", RegexOptions.CultureInvariant)]
    private static partial Regex AccessTokenBase64();

    [GeneratedRegex(@"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})", RegexOptions.CultureInvariant)]
    private static partial Regex GitHubToken();

    [GeneratedRegex(@"(?<head>\b[a-z][a-z0-9+.-]*://[^\s/:@""']*:)[^\s/@""']+@", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex UrlPassword();

    [GeneratedRegex(@"(?<head>(?:^|\s)--?(?:password|passwd|pass|token|secret|api-?key|access-?key|auth-?token|client-?secret)(?:=|\s+))[^\s""']+", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SecretOption();
}

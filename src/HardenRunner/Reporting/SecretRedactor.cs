using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using System.Text.Unicode;
using System.Text.RegularExpressions;

namespace HardenRunner.Reporting;

/// <summary>
/// Removes secrets from text before it is stored or shown (DESIGN §5: secrets never appear in any output or file).
/// Works on free text — command lines, URLs and request targets, host names, summaries, evidence — and removes:
/// <list type="bullet">
/// <item><c>Authorization</c>/<c>Proxy-Authorization</c> header values (keeping the scheme: <c>AUTHORIZATION: basic [REDACTED]</c>),
/// which covers git's <c>-c http.extraheader="AUTHORIZATION: basic …"</c>;</item>
/// <item><c>Cookie</c>/<c>Set-Cookie</c> header values and curl's <c>-b</c>/<c>--cookie</c> and <c>-u</c>/<c>--user</c> arguments;</item>
/// <item>passwords in URLs (<c>https://user:secret@host</c>) and long user names used as tokens;</item>
/// <item>values of secret-looking names in <c>name=value</c> pairs (query strings, <c>--password=…</c>, <c>GITHUB_TOKEN=…</c>,
/// JSON <c>"token":"…"</c>) and in <c>--token VALUE</c> arguments;</item>
/// <item>known token shapes anywhere: GitHub <c>ghp_ gho_ ghu_ ghs_ ghr_</c> and <c>github_pat_</c>, JWTs, npm, GitLab and Slack tokens;</item>
/// <item>base64 blobs that decode to a token or to <c>x-access-token:…</c>.</item>
/// </list>
/// It errs on the side of removing too much. Idempotent and pure; a pathological input that makes a pattern time out
/// is replaced whole (fail-safe).
/// </summary>
public static partial class SecretRedactor
{
    /// <summary>What a secret is replaced with.</summary>
    public const string Mask = "[REDACTED]";

    private const int RegexTimeoutMs = 1000;
    private const int MinBase64Length = 16;
    private const int CacheMaxLength = 512;
    private const int CacheCapacity = 4096;

    private static readonly ConcurrentDictionary<string, string> Cache = new(StringComparer.Ordinal);

    private static readonly HashSet<string> SecretNames = new(StringComparer.Ordinal)
    {
        "token", "access_token", "accesstoken", "key", "secret", "password", "passwd", "pwd", "pass", "sig", "signature",
        "code", "auth", "authorization", "cookie", "set-cookie", "session", "sessionid", "sid", "jwt", "otp", "apikey",
        "client_assertion", "assertion", "credential", "credentials", "private", "bearer",
    };

    private static readonly string[] SecretNameParts =
    [
        "token", "secret", "passw", "signature", "credential", "apikey", "api_key", "api-key", "private_key", "privatekey",
        "private-key", "session", "authorization", "cookie", "bearer",
    ];

    /// <summary>Returns <paramref name="text"/> with every secret this class knows of replaced by <see cref="Mask"/>.</summary>
    public static string Redact(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            return text;
        }

        // executables, rule texts, host names and command lines repeat a lot: remember recent answers
        var cacheable = text.Length <= CacheMaxLength;
        if (cacheable && Cache.TryGetValue(text, out var known))
        {
            return known;
        }

        string result;
        try
        {
            result = RedactUncached(text);
        }
        catch (RegexMatchTimeoutException)
        {
            result = Mask;
        }

        if (cacheable)
        {
            if (Cache.Count >= CacheCapacity)
            {
                Cache.Clear();
            }

            Cache[text] = result;
        }

        return result;
    }

    private static string RedactUncached(string text)
    {
        // each pattern runs only when the text has what it needs (a cheap necessary condition), so ordinary text is fast
        var s = text;
        if (s.Contains("authorization", StringComparison.OrdinalIgnoreCase))
        {
            s = AuthorizationHeader().Replace(s, m => m.Groups["prefix"].Value + (m.Groups["scheme"].Success ? m.Groups["scheme"].Value + " " : "") + Mask);
        }

        if (s.Contains("cookie", StringComparison.OrdinalIgnoreCase))
        {
            s = CookieHeader().Replace(s, m => m.Groups["prefix"].Value + Mask);
        }

        var hasDash = s.Contains('-', StringComparison.Ordinal);
        if (hasDash)
        {
            s = CurlCredentialFlag().Replace(s, m => m.Groups["prefix"].Value + Mask);
        }

        if (s.Contains('@', StringComparison.Ordinal) && s.Contains("://", StringComparison.Ordinal))
        {
            s = UrlPassword().Replace(s, m => m.Groups["prefix"].Value + Mask + "@");
            s = UrlTokenUser().Replace(s, m => m.Groups["prefix"].Value + Mask + "@");
        }

        if (s.Contains("x-access-token:", StringComparison.OrdinalIgnoreCase))
        {
            s = AccessTokenUser().Replace(s, m => m.Groups["prefix"].Value + Mask);
        }

        if (s.Contains('=', StringComparison.Ordinal))
        {
            s = NameValue().Replace(s, m => IsSecretName(m.Groups["name"].Value) ? m.Groups["name"].Value + m.Groups["sep"].Value + Mask : m.Value);
        }

        if (s.Contains('"', StringComparison.Ordinal))
        {
            s = JsonNameValue().Replace(s, m => IsSecretName(m.Groups["name"].Value) ? m.Groups["prefix"].Value + Mask + "\"" : m.Value);
        }

        if (hasDash)
        {
            s = FlagValue().Replace(s, m => IsSecretName(m.Groups["flag"].Value) ? m.Groups["flag"].Value + m.Groups["space"].Value + Mask : m.Value);
        }

        if (s.Contains('_', StringComparison.Ordinal))
        {
            s = GitHubToken().Replace(s, m => m.Groups["prefix"].Value + Mask);
        }

        if (s.Contains("npm_", StringComparison.Ordinal) || s.Contains("glpat-", StringComparison.Ordinal) || s.Contains("xox", StringComparison.Ordinal))
        {
            s = OtherToken().Replace(s, m => m.Groups["prefix"].Value + Mask);
        }

        if (s.Contains("eyJ", StringComparison.Ordinal))
        {
            s = Jwt().Replace(s, Mask);
        }

        if (HasBase64Run(s, MinBase64Length))
        {
            s = Base64Blob().Replace(s, m => RedactBase64(m.Value));
        }

        return s;
    }

    /// <summary><see cref="Redact(string)"/> for optional text.</summary>
    public static string? RedactOrNull(string? text) => text is null ? null : Redact(text);

    /// <summary>A header or evidence value: hidden whole when its name looks secret, otherwise <see cref="Redact(string)"/>.</summary>
    public static string RedactNamedValue(string name, string value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        return IsSecretName(name) ? Mask : Redact(value);
    }

    /// <summary>
    /// True when a parameter, flag, variable or header name suggests its value is a credential: exact names such as
    /// token, key, secret, password, sig, signature, code, auth, cookie; names containing token, secret, passw,
    /// signature, credential, api key, session; names ending in key or sig. Leading dashes and percent-encoding are ignored.
    /// </summary>
    public static bool IsSecretName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var n = Decode(name).TrimStart('-').Trim().ToLowerInvariant();
        if (n.Length == 0)
        {
            return false;
        }

        if (SecretNames.Contains(n))
        {
            return true;
        }

        foreach (var part in SecretNameParts)
        {
            if (n.Contains(part, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return n.EndsWith("key", StringComparison.Ordinal) || n.EndsWith("_sig", StringComparison.Ordinal)
            || n.EndsWith("-sig", StringComparison.Ordinal) || n.EndsWith("password", StringComparison.Ordinal);
    }

    private static string Decode(string name)
    {
        if (!name.Contains('%', StringComparison.Ordinal))
        {
            return name;
        }

        try
        {
            return Uri.UnescapeDataString(name);
        }
        catch (UriFormatException)
        {
            return name;
        }
    }

    private static string RedactBase64(string blob)
    {
        if (DecodesToSecret(blob))
        {
            return Mask;
        }

        // a path such as /upload/<base64>/x joins the blob to the path, and base64 has '/' too:
        // try every stretch between slashes (bounded)
        if (!blob.Contains('/', StringComparison.Ordinal))
        {
            return blob;
        }

        var starts = new List<int> { 0 };
        var ends = new List<int>();
        for (var i = 0; i < blob.Length && starts.Count < 32; i++)
        {
            if (blob[i] == '/')
            {
                ends.Add(i);
                starts.Add(i + 1);
            }
        }

        ends.Add(blob.Length);
        foreach (var start in starts)
        {
            foreach (var end in ends)
            {
                if (end - start >= MinBase64Length && !(start == 0 && end == blob.Length) && DecodesToSecret(blob[start..end]))
                {
                    return blob[..start] + Mask + RedactBase64(blob[end..]);
                }
            }
        }

        return blob;
    }

    private static bool HasBase64Run(string s, int length)
    {
        var run = 0;
        foreach (var c in s)
        {
            if (char.IsAsciiLetterOrDigit(c) || c is '+' or '/' or '_' or '-')
            {
                if (++run >= length)
                {
                    return true;
                }
            }
            else
            {
                run = 0;
            }
        }

        return false;
    }

    private static bool DecodesToSecret(string blob)
    {
        var core = blob.AsSpan().TrimEnd('=');
        if (core.Length < MinBase64Length || core.Length > 16 * 1024)
        {
            return false;
        }

        var padded = core.Length + ((4 - (core.Length % 4)) % 4);
        var chars = ArrayPool<char>.Shared.Rent(padded);
        var bytes = ArrayPool<byte>.Shared.Rent(padded);
        try
        {
            for (var i = 0; i < padded; i++)
            {
                chars[i] = i >= core.Length ? '=' : core[i] switch { '-' => '+', '_' => '/', var c => c };
            }

            if (!Convert.TryFromBase64Chars(chars.AsSpan(0, padded), bytes, out var written)
                || !Utf8.IsValid(bytes.AsSpan(0, written)))
            {
                return false;
            }

            var decoded = Encoding.UTF8.GetString(bytes, 0, written);
            return decoded.Contains("x-access-token:", StringComparison.OrdinalIgnoreCase)
                || GitHubToken().IsMatch(decoded)
                || OtherToken().IsMatch(decoded)
                || Jwt().IsMatch(decoded)
                || BasicCredential().IsMatch(decoded);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars, clearArray: true);
            ArrayPool<byte>.Shared.Return(bytes, clearArray: true);
        }
    }

    // Authorization: [scheme] credential (Digest: the rest of the line or quoted value, it has several parameters)
    [GeneratedRegex(
        """(?<prefix>\b(?:proxy-)?authorization\s*[:=]\s*)(?:(?<scheme>digest)\s+[^\r\n]*|(?<scheme>basic|bearer|token|negotiate|ntlm|aws4-hmac-sha256)\s+[^\s"',;]+|[^\s"',;]+)""",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant,
        RegexTimeoutMs)]
    private static partial Regex AuthorizationHeader();

    // Cookie / Set-Cookie: everything to the end of the line or the closing quote
    [GeneratedRegex("""(?<prefix>\b(?:set-)?cookie\s*:\s*)[^"'\r\n]+""", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, RegexTimeoutMs)]
    private static partial Regex CookieHeader();

    // curl -b/--cookie NAME=VALUE, -u/--user USER:PASSWORD, --oauth2-bearer TOKEN
    [GeneratedRegex("""(?<prefix>(?:^|(?<=[\s"']))(?:-b|--cookie|-u|--user|--proxy-user|-U|--oauth2-bearer)(?:\s+|=))(?!-)[^\s"']+""", RegexOptions.CultureInvariant, RegexTimeoutMs)]
    private static partial Regex CurlCredentialFlag();

    // scheme://user:password@
    [GeneratedRegex("""(?<prefix>\b[a-z][a-z0-9+.\-]*://[^/\s:@"'?#]*:)[^/\s@"'?#]+@""", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, RegexTimeoutMs)]
    private static partial Regex UrlPassword();

    // scheme://<long token>@ (a token used as the user name)
    [GeneratedRegex("""(?<prefix>\b[a-z][a-z0-9+.\-]*://)[^/\s:@"'?#]{20,}@""", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, RegexTimeoutMs)]
    private static partial Regex UrlTokenUser();

    // x-access-token:<token> outside a URL
    [GeneratedRegex("""(?<prefix>\bx-access-token:)[^\s@"'/]+""", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, RegexTimeoutMs)]
    private static partial Regex AccessTokenUser();

    // name=value in query strings, command lines and environment assignments
    [GeneratedRegex("""(?<=^|[\s?&;,"'(\[{])(?<name>-{0,2}[A-Za-z0-9_.%\-\[\]]+)(?<sep>=)(?<value>[^&\s"';,#)]*)""", RegexOptions.CultureInvariant, RegexTimeoutMs)]
    private static partial Regex NameValue();

    // "name": "value" (JSON in command lines or evidence)
    [GeneratedRegex(@"(?<prefix>""(?<name>[A-Za-z0-9_.\-]+)""\s*:\s*"")(?:[^""\\]|\\.)*""", RegexOptions.CultureInvariant, RegexTimeoutMs)]
    private static partial Regex JsonNameValue();

    // --token VALUE, --password VALUE (the next argument)
    [GeneratedRegex("""(?<=^|\s)(?<flag>--?[A-Za-z][A-Za-z0-9_\-]*)(?<space>\s+)(?![-\[])(?<value>[^\s"']+)""", RegexOptions.CultureInvariant, RegexTimeoutMs)]
    private static partial Regex FlagValue();

    // GitHub: ghp_ gho_ ghu_ ghs_ ghr_ (36 characters after the prefix; 20 suffice here), github_pat_; also glued to other text
    [GeneratedRegex("""(?<prefix>gh[pousr]_|github_pat_)[A-Za-z0-9_]{20,255}""", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, RegexTimeoutMs)]
    private static partial Regex GitHubToken();

    // npm_, glpat- (GitLab), xoxb-/xoxp-/... (Slack)
    [GeneratedRegex("""(?<![A-Za-z0-9])(?<prefix>npm_|glpat-|xox[abposr]-)[A-Za-z0-9_\-]{16,255}""", RegexOptions.CultureInvariant, RegexTimeoutMs)]
    private static partial Regex OtherToken();

    // a JWT: header.payload.signature, base64url, header and payload start with {"
    [GeneratedRegex("""eyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*""", RegexOptions.CultureInvariant, RegexTimeoutMs)]
    private static partial Regex Jwt();

    [GeneratedRegex("""[A-Za-z0-9+/_\-]{16,}={0,2}""", RegexOptions.CultureInvariant, RegexTimeoutMs)]
    private static partial Regex Base64Blob();

    // user:password as found inside Basic credentials
    [GeneratedRegex("""^[\x21-\x39\x3b-\x7e]{1,128}:[\x21-\x7e]{4,}$""", RegexOptions.CultureInvariant, RegexTimeoutMs)]
    private static partial Regex BasicCredential();
}

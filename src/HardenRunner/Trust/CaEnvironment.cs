using System.Text;

namespace HardenRunner.Trust;

/// <summary>
/// The environment variables that make common runtimes trust the ephemeral CA (DESIGN §2 Trust, §3 <c>env</c>):
/// <c>NODE_EXTRA_CA_CERTS</c> names the CA alone (Node adds it to its built-in roots); the others name the whole
/// system bundle, which now holds the CA, so every other root keeps working.
/// </summary>
public sealed class CaEnvironment
{
    public const string NodeExtraCaCerts = "NODE_EXTRA_CA_CERTS";

    /// <summary>The variables that take a full bundle (they replace a tool's roots rather than add to them).</summary>
    public static readonly IReadOnlyList<string> BundleVariables =
        ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "PIP_CERT", "AWS_CA_BUNDLE"];

    public CaEnvironment(string caPemPath, string bundlePath)
    {
        CaPemPath = CheckValue(caPemPath, nameof(caPemPath));
        BundlePath = CheckValue(bundlePath, nameof(bundlePath));
        Variables =
        [
            new(NodeExtraCaCerts, CaPemPath),
            .. BundleVariables.Select(name => new KeyValuePair<string, string>(name, BundlePath)),
        ];
    }

    public string CaPemPath { get; }

    public string BundlePath { get; }

    /// <summary>The variables in a fixed order: NODE_EXTRA_CA_CERTS, then the bundle variables.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Variables { get; }

    /// <summary>The environment of the installation recorded in <paramref name="stateDirectory"/>, or null when none is.</summary>
    public static CaEnvironment? Load(string stateDirectory) =>
        TrustManifest.Load(stateDirectory) is { } manifest ? new CaEnvironment(manifest.CaPemPath, manifest.BundlePath) : null;

    /// <summary><c>NAME=value</c> lines, each ending with a line feed (what <c>harden-runner env</c> prints).</summary>
    public string Render()
    {
        var text = new StringBuilder();
        foreach (var (name, value) in Variables)
        {
            text.Append(name).Append('=').Append(value).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>
    /// Appends the variables to a GitHub Actions environment file (<c>$GITHUB_ENV</c>) in its one-line
    /// <c>NAME=value</c> form; a file whose last line lacks a line feed gets one first, so no line is joined to ours.
    /// </summary>
    public void WriteGithubEnv(string githubEnvPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(githubEnvPath);
        using var file = new FileStream(githubEnvPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
        var prefix = "";
        if (file.Length > 0)
        {
            file.Seek(-1, SeekOrigin.End);
            if (file.ReadByte() != '\n')
            {
                prefix = "\n";
            }
        }

        file.Seek(0, SeekOrigin.End);
        file.Write(Encoding.UTF8.GetBytes(prefix + Render()));
    }

    private static string CheckValue(string value, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(value, name);
        if (value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
        {
            throw new ArgumentException("an environment value must be one line", name);
        }

        return value;
    }
}

using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace HardenRunner.Reporting.Views;

/// <summary>
/// A run's detections as a SARIF 2.1.0 log (<c>harden-runner report --format sarif</c>) for GitHub code scanning:
/// one rule per detection type, one result per detection. Code scanning wants a location for every result; a
/// detection about a workspace file points at that file (relative to the checkout), every other one at the policy
/// file <c>.harden/policy.yml</c>, where the response to it is made.
/// </summary>
public static partial class SarifReport
{
    public const string SchemaUri = "https://json.schemastore.org/sarif-2.1.0.json";
    public const string PolicyFile = ".harden/policy.yml";

    private static readonly JsonWriterOptions WriterOptions = new() { Indented = true, Encoder = JavaScriptEncoder.Default };

    /// <summary>What each detection type of DESIGN §5 means.</summary>
    public static readonly IReadOnlyDictionary<string, string> RuleDescriptions = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["egress-blocked"] = "A connection to a destination the policy does not allow was blocked.",
        ["dns-exfiltration"] = "DNS queries carried data in their labels (DNS exfiltration).",
        ["sni-mismatch"] = "A TLS connection named one host in its SNI but went to an address of another.",
        ["domain-fronting"] = "The HTTP Host header named a different host than the TLS SNI (domain fronting).",
        ["source-overwritten"] = "A source file tracked by the repository was overwritten during the build.",
        ["firewall-tampered"] = "A job step changed the appliance's firewall rules.",
        ["trust-store-tampered"] = "A job step changed the trust store the appliance installed.",
        ["resolver-tampered"] = "A job step changed the resolver configuration the appliance installed.",
        ["runner-memory-read"] = "A process read the memory of the runner's worker process (where secrets live).",
        ["reverse-shell"] = "A shell's standard streams were connected to a network socket (reverse shell).",
        ["privileged-container"] = "A privileged container was started.",
        ["sudo-used"] = "A job step used sudo.",
        ["github-cross-org-write"] = "A mutating GitHub API call went to an owner other than the job's repository owner.",
        ["new-endpoint"] = "A destination never seen in this job's past runs was contacted.",
    };

    public static string Render(RunReport report, string? toolVersion = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            Write(w, report, toolVersion);
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>SARIF level for a DESIGN §5 severity.</summary>
    public static string Level(string severity) => severity switch
    {
        "critical" or "high" => "error",
        "medium" => "warning",
        _ => "note",
    };

    /// <summary>GitHub's <c>security-severity</c> (0.0–10.0) for a DESIGN §5 severity.</summary>
    public static string SecuritySeverity(string severity) => severity switch
    {
        "critical" => "9.5",
        "high" => "8.0",
        "medium" => "5.5",
        _ => "2.0",
    };

    /// <summary>The repository-relative path of a file in a GitHub-hosted checkout (<c>/home/runner/work/R/R/rel</c>), or null.</summary>
    public static string? CheckoutRelative(string? path) =>
        path is not null && CheckoutPath().Match(path) is { Success: true } m ? m.Groups[1].Value : null;

    private static void Write(Utf8JsonWriter w, RunReport report, string? toolVersion)
    {
        var types = report.Detections.Select(d => d.Type).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        w.WriteStartObject();
        w.WriteString("$schema", SchemaUri);
        w.WriteString("version", "2.1.0");
        w.WriteStartArray("runs");
        w.WriteStartObject();

        w.WriteStartObject("tool");
        w.WriteStartObject("driver");
        w.WriteString("name", "HardenRunner");
        if (toolVersion is not null)
        {
            w.WriteString("semanticVersion", toolVersion);
        }

        w.WriteStartArray("rules");
        foreach (var type in types)
        {
            var severity = report.Detections.Where(d => d.Type == type).Select(d => d.Severity)
                .OrderBy(s => Array.IndexOf(ReportDigest.Severities, s) is var i and >= 0 ? i : 9).First();
            var description = RuleDescriptions.TryGetValue(type, out var known) ? known : $"HardenRunner detection '{type}'.";
            w.WriteStartObject();
            w.WriteString("id", type);
            w.WriteString("name", RuleName(type));
            w.WriteStartObject("shortDescription");
            w.WriteString("text", description);
            w.WriteEndObject();
            w.WriteStartObject("fullDescription");
            w.WriteString("text", description);
            w.WriteEndObject();
            w.WriteStartObject("help");
            w.WriteString("text", $"{description} See the run's HardenRunner report for the process, the step and the evidence.");
            w.WriteEndObject();
            w.WriteStartObject("defaultConfiguration");
            w.WriteString("level", Level(severity));
            w.WriteEndObject();
            w.WriteStartObject("properties");
            w.WriteStartArray("tags");
            w.WriteStringValue("security");
            w.WriteStringValue("ci");
            w.WriteEndArray();
            w.WriteString("security-severity", SecuritySeverity(severity));
            w.WriteEndObject();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();

        w.WriteStartObject("automationDetails");
        w.WriteString("id", $"harden-runner/{string.Join("/", new[] { report.Run.Workflow, report.Run.Job }.Where(x => !string.IsNullOrEmpty(x)))}/{report.Run.Id}");
        w.WriteEndObject();

        w.WriteStartArray("invocations");
        w.WriteStartObject();
        w.WriteBoolean("executionSuccessful", true);
        w.WriteString("startTimeUtc", report.Run.StartedAt.UtcDateTime);
        if (report.Run.EndedAt is { } ended)
        {
            w.WriteString("endTimeUtc", ended.UtcDateTime);
        }

        w.WriteEndObject();
        w.WriteEndArray();

        w.WriteStartArray("results");
        foreach (var d in report.Detections)
        {
            w.WriteStartObject();
            w.WriteString("ruleId", d.Type);
            w.WriteNumber("ruleIndex", types.IndexOf(d.Type));
            w.WriteString("level", Level(d.Severity));
            w.WriteStartObject("message");
            w.WriteString("text", MessageText(d));
            w.WriteEndObject();

            var file = d.Evidence.TryGetValue("path", out var p) ? CheckoutRelative(p) : null;
            w.WriteStartArray("locations");
            w.WriteStartObject();
            w.WriteStartObject("physicalLocation");
            w.WriteStartObject("artifactLocation");
            w.WriteString("uri", file ?? PolicyFile);
            w.WriteString("uriBaseId", "%SRCROOT%");
            w.WriteEndObject();
            w.WriteStartObject("region");
            w.WriteNumber("startLine", 1);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndArray();

            w.WriteStartObject("partialFingerprints");
            w.WriteString("hardenRunnerDetection/v1", Fingerprint(report, d));
            w.WriteEndObject();

            w.WriteStartObject("properties");
            w.WriteString("severity", d.Severity);
            w.WriteString("run", report.Run.Id);
            if (d.Step is not null)
            {
                w.WriteString("step", ReportStep.Label(d.Step));
            }

            if (d.Process is not null)
            {
                w.WriteNumber("pid", d.Process.Pid);
                if (d.Process.Exe is not null)
                {
                    w.WriteString("exe", d.Process.Exe);
                }

                if (d.Process.Cmdline is not null)
                {
                    w.WriteString("cmdline", d.Process.Cmdline);
                }
            }

            w.WriteStartObject("evidence");
            foreach (var (k, v) in d.Evidence)
            {
                w.WriteString(k, v);
            }

            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static string MessageText(ReportDetection d)
    {
        var sb = new StringBuilder(d.Summary.Length > 0 ? d.Summary : d.Type);
        if (d.Step is not null)
        {
            sb.Append(" (step ").Append(ReportStep.Label(d.Step)).Append(')');
        }

        if (d.Process is not null)
        {
            sb.Append(CultureInfo.InvariantCulture, $" (process {ReportDigest.ExeName(d.Process.Exe)} {d.Process.Pid})");
        }

        return sb.ToString();
    }

    /// <summary>Stable across runs for the same finding in the same job (type, summary, step), so code scanning does not duplicate alerts.</summary>
    private static string Fingerprint(RunReport report, ReportDetection d)
    {
        var key = string.Join("\n", report.Run.Repository, report.Run.Workflow, report.Run.Job, d.Type, d.Summary, ReportStep.Label(d.Step));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..32];
    }

    private static string RuleName(string type) =>
        string.Concat(type.Split('-', StringSplitOptions.RemoveEmptyEntries).Select(p => char.ToUpperInvariant(p[0]) + p[1..]));

    [GeneratedRegex("^/home/runner/work/[^/]+/[^/]+/(.+)$", RegexOptions.CultureInvariant)]
    private static partial Regex CheckoutPath();
}

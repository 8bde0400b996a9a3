using System.Text;
using HardenRunner.Monitoring;

namespace HardenRunner.Service;

/// <summary>
/// The GITHUB_* / RUNNER_* values of a job, from its worker's environment (/proc/&lt;pid&gt;/environ). Only names
/// that describe the job are kept; GITHUB_TOKEN and anything else that may hold a secret are never read into it.
/// </summary>
public static class JobEnvironment
{
    private static readonly string[] Kept =
    [
        "GITHUB_WORKSPACE", "GITHUB_REPOSITORY", "GITHUB_WORKFLOW", "GITHUB_JOB", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT",
        "GITHUB_SERVER_URL", "GITHUB_SHA", "GITHUB_REF", "GITHUB_ACTOR", "GITHUB_EVENT_NAME", "RUNNER_NAME",
    ];

    /// <summary>Parses a NUL-separated environment block, keeping only the job-describing names.</summary>
    public static Dictionary<string, string> Parse(ReadOnlySpan<byte> environ)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var range in environ.Split((byte)0))
        {
            var entry = environ[range];
            var eq = entry.IndexOf((byte)'=');
            if (eq <= 0)
            {
                continue;
            }

            var name = Encoding.UTF8.GetString(entry[..eq]);
            if (Array.IndexOf(Kept, name) >= 0)
            {
                result[name] = Encoding.UTF8.GetString(entry[(eq + 1)..]);
            }
        }

        return result;
    }

    /// <summary>The job values of a running process; empty when its environment cannot be read.</summary>
    public static Dictionary<string, string> Read(int pid)
    {
        try
        {
            return Parse(File.ReadAllBytes(ProcFs.PidPath(pid, "environ")));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return new Dictionary<string, string>(StringComparer.Ordinal);
        }
    }
}

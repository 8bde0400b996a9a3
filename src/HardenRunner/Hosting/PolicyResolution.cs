using HardenRunner.Policy.Loading;
using HardenRunner.Policy.Model;

namespace HardenRunner.Hosting;

/// <summary>Loads the policy a run enforces: the file (or the embedded default), then the flags on top.</summary>
public static class PolicyResolution
{
    /// <summary>The policy, or the diagnostics that explain why there is none. An invalid policy is never replaced by an empty one.</summary>
    public static PolicyLoadResult Load(ApplianceOptions options, Func<string, string?> env, string currentDirectory)
    {
        ArgumentNullException.ThrowIfNull(options);
        var path = options.ResolvePolicyPath(env, currentDirectory);
        PolicyLoadResult result;
        if (path is null)
        {
            result = new PolicyLoadResult(PolicyDocument.Default, []);
        }
        else
        {
            string text;
            try
            {
                text = File.ReadAllText(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return new PolicyLoadResult(null, [new PolicyDiagnostic(new SourceLocation(path, 0, 0), DiagnosticSeverity.Error, "cannot read the policy file: " + ex.Message)]);
            }

            result = PolicyLoader.Parse(text, path);
        }

        if (!result.Success)
        {
            return result;
        }

        var policy = result.Policy!;
        if (!string.IsNullOrWhiteSpace(options.AllowedEndpoints))
        {
            var added = PolicyLoader.AddEndpoints(policy, options.AllowedEndpoints);
            if (!added.Success)
            {
                return added;
            }

            policy = added.Policy!;
        }

        if (options.EgressOverride is { } mode)
        {
            policy = policy with { EgressPolicy = mode };
        }

        return new PolicyLoadResult(policy, result.Diagnostics);
    }
}

using System.CommandLine;
using System.Text.Json;
using HardenRunner.Policy;
using HardenRunner.Policy.Import;
using HardenRunner.Policy.Loading;
using HardenRunner.Policy.Model;

namespace HardenRunner.Cli.Commands;

/// <summary><c>harden-runner policy check|explain|import</c>.</summary>
internal static class PolicyCommands
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var policy = new Command("policy", "Validate, explain and import policy files (.harden/policy.yml).");
        policy.Subcommands.Add(Check(stdout, stderr));
        policy.Subcommands.Add(Explain(stdout, stderr));
        policy.Subcommands.Add(Import(stdout, stderr));
        return policy;
    }

    /// <summary>Reads and validates a policy file; prints every problem as file:line:column. Null when invalid.</summary>
    public static PolicyDocument? LoadOrReport(string path, TextWriter stderr)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"{path}: error: cannot read the policy file: {ex.Message}");
            return null;
        }

        var result = PolicyLoader.Parse(text, path);
        foreach (var d in result.Diagnostics)
        {
            stderr.WriteLine(d.ToString());
        }

        if (!result.Success)
        {
            var n = result.Errors.Count();
            stderr.WriteLine($"{path}: {n} problem{(n == 1 ? "" : "s")}; the policy was not loaded.");
            return null;
        }

        return result.Policy;
    }

    private static Command Check(TextWriter stdout, TextWriter stderr)
    {
        var file = new Argument<string>("file") { Description = "The policy file to validate." };
        var cmd = new Command("check", "Validate a policy; explain every problem with line and column.") { file };
        cmd.SetAction(parse =>
        {
            var path = parse.GetValue(file)!;
            var doc = LoadOrReport(path, stderr);
            if (doc is null)
            {
                return ExitCodes.InvalidInput;
            }

            var fromPresets = doc.AllowedEndpoints.Count(e => e.Source.File.StartsWith("preset:", StringComparison.Ordinal));
            stdout.WriteLine(
                $"{path}: valid: {(doc.EgressPolicy == EgressMode.Block ? "block" : "audit")} mode, " +
                $"{doc.AllowedEndpoints.Count} endpoint(s) ({fromPresets} from presets), {doc.AllowedCidrs.Count} CIDR(s), " +
                $"{doc.Rules.Count} host rule set(s), {doc.TlsPassthrough.Count} passthrough host(s)");
            return ExitCodes.Success;
        });
        return cmd;
    }

    private static Command Explain(TextWriter stdout, TextWriter stderr)
    {
        var file = new Argument<string>("file") { Description = "The policy file." };
        var url = new Option<string>("--url") { Description = "https://host/path, http://…, tcp://host:port or udp://host:port", Required = true };
        var method = new Option<string>("--method") { Description = "HTTP method (default GET).", DefaultValueFactory = _ => "GET" };
        var format = new Option<string>("--format") { Description = "text or json", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");
        var cmd = new Command("explain", "Print the decision for one request and the rule that made it.") { file, url, method, format };
        cmd.SetAction(parse =>
        {
            var doc = LoadOrReport(parse.GetValue(file)!, stderr);
            if (doc is null)
            {
                return ExitCodes.InvalidInput;
            }

            if (!RequestTarget.TryParse(parse.GetValue(url)!, out var target, out var error))
            {
                stderr.WriteLine($"error: {error}");
                return ExitCodes.InvalidInput;
            }

            var verdict = target!.Decide(new PolicyEngine(doc), parse.GetValue(method)!);
            if (parse.GetValue(format) == "json")
            {
                stdout.WriteLine(JsonSerializer.Serialize(new ExplainJson(verdict.DecisionText, verdict.Rule), CliJsonContext.Default.ExplainJson));
            }
            else
            {
                stdout.WriteLine($"{verdict.DecisionText}: {verdict.Rule}");
                if (doc.EgressPolicy == EgressMode.Audit && !verdict.IsAllowed)
                {
                    stdout.WriteLine("(audit mode: the request would pass and be recorded as denied)");
                }
            }

            return ExitCodes.Success;
        });
        return cmd;
    }

    private static Command Import(TextWriter stdout, TextWriter stderr)
    {
        var endpoints = new Option<string>("--allowed-endpoints") { Description = "The step-security/harden-runner allowed-endpoints string.", Required = true };
        var mode = new Option<string>("--egress-policy") { Description = "audit or block (default block, as step-security's input).", DefaultValueFactory = _ => "block" };
        mode.AcceptOnlyFromAmong("audit", "block");
        var output = new Option<string?>("--output", "-o") { Description = "Write the policy to this file instead of standard output." };
        var cmd = new Command("import", "Turn a step-security/harden-runner allowed-endpoints string into a policy file.") { endpoints, mode, output };
        cmd.SetAction(parse =>
        {
            var result = AllowedEndpointsImporter.Import(parse.GetValue(endpoints)!, parse.GetValue(mode) == "audit" ? EgressMode.Audit : EgressMode.Block);
            if (result.Yaml is null)
            {
                foreach (var e in result.Errors)
                {
                    stderr.WriteLine($"--allowed-endpoints: error: {e}");
                }

                return ExitCodes.InvalidInput;
            }

            var path = parse.GetValue(output);
            if (path is null)
            {
                stdout.Write(result.Yaml);
            }
            else
            {
                File.WriteAllText(path, result.Yaml);
                stderr.WriteLine($"wrote {path} ({result.Count} endpoint(s))");
            }

            return ExitCodes.Success;
        });
        return cmd;
    }
}

internal sealed record ExplainJson(string Decision, string Rule);

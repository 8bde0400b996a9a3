using System.Globalization;
using System.Text;
using BenchmarkDotNet.Attributes;
using HardenRunner.Policy;
using HardenRunner.Policy.Loading;
using HardenRunner.Policy.Model;

namespace HardenRunner.Benchmarks;

/// <summary>
/// Decisions per second for a policy of 500 endpoints (exact names, wildcards, label globs) and 200 layer-7 rules
/// (spread over 20 hosts with 10 entries each, including '**' patterns and deny entries). Each benchmark makes
/// <see cref="OperationsPerInvoke"/> decisions over a rotating set of questions, so the figure is per decision.
/// </summary>
[MemoryDiagnoser]
public class PolicyEngineBenchmarks
{
    private const int OperationsPerInvoke = 1024;

    private PolicyEngine _engine = null!;
    private (string Host, string Method, string Path)[] _requests = [];
    private string[] _names = [];

    [GlobalSetup]
    public void Setup()
    {
        var yaml = BuildPolicy();
        var result = PolicyLoader.Parse(yaml, "bench.yml", new InMemoryPresets(new Dictionary<string, string>()));
        if (!result.Success)
        {
            throw new InvalidOperationException(string.Join('\n', result.Diagnostics));
        }

        _engine = new PolicyEngine(result.Policy!);
        var requests = new List<(string, string, string)>();
        var rnd = new Random(42);
        for (var i = 0; i < OperationsPerInvoke; i++)
        {
            var h = rnd.Next(20);
            var host = $"api{h}.rules.example";
            requests.Add((i % 4) switch
            {
                0 => (host, "GET", $"/repos/org{h}/repo{i % 7}/contents/src/file{i}.cs"),
                1 => (host, "POST", $"/repos/org{h}/repo{i % 7}/issues/{i}/comments"),
                2 => (host, "GET", $"/gists/{i}"),
                _ => (host, "GET", $"/repos/org{h}/../../gists/{i}"),
            });
        }

        _requests = [.. requests];
        _names = [.. Enumerable.Range(0, OperationsPerInvoke).Select(i => (i % 3) switch
        {
            0 => $"host{i % 300}.example{i % 10}.com",
            1 => $"a{i}.cdn{i % 100}.example.net",
            _ => $"unknown{i}.nowhere.example",
        })];
    }

    [Benchmark(OperationsPerInvoke = OperationsPerInvoke)]
    public int HttpDecision()
    {
        var allowed = 0;
        foreach (var (host, method, path) in _requests)
        {
            if (_engine.DecideHttp(host, 443, method, path).IsAllowed)
            {
                allowed++;
            }
        }

        return allowed;
    }

    [Benchmark(OperationsPerInvoke = OperationsPerInvoke)]
    public int DnsDecision()
    {
        var allowed = 0;
        foreach (var name in _names)
        {
            if (_engine.DecideDns(name).IsAllowed)
            {
                allowed++;
            }
        }

        return allowed;
    }

    [Benchmark(OperationsPerInvoke = OperationsPerInvoke)]
    public int ConnectionDecision()
    {
        var allowed = 0;
        foreach (var name in _names)
        {
            if (_engine.DecideConnection(name, 443, Transport.Tcp).IsAllowed)
            {
                allowed++;
            }
        }

        return allowed;
    }

    internal static string BuildPolicy()
    {
        var sb = new StringBuilder("egress-policy: block\nallowed-endpoints:\n");
        var n = 0;
        for (var i = 0; i < 300; i++, n++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"  - host{i}.example{i % 10}.com:443\n");
        }

        for (var i = 0; i < 100; i++, n++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"  - \"*.cdn{i}.example.net:443\"\n");
        }

        for (var i = 0; i < 60; i++, n++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"  - \"store{i}*.blob.example.org:443\"\n");
        }

        for (var i = 0; i < 20; i++, n++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"  - api{i}.rules.example:443\n");
        }

        for (var i = 0; i < 20; i++, n++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"  - ssh{i}.example.com:22\n");
        }

        sb.Append("rules:\n");
        for (var h = 0; h < 20; h++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"  - host: api{h}.rules.example\n    allow:\n");
            for (var r = 0; r < 7; r++)
            {
                sb.Append(CultureInfo.InvariantCulture, $"      - {{ method: GET, path: \"/repos/org{h}/repo{r}/**\" }}\n");
            }

            sb.Append(CultureInfo.InvariantCulture, $"      - {{ method: [POST, PATCH], path: \"/repos/org{h}/*/issues/*/comments\" }}\n");
            sb.Append("    deny:\n");
            sb.Append("      - { method: \"*\", path: \"/gists/**\" }\n");
            sb.Append(CultureInfo.InvariantCulture, $"      - {{ method: DELETE, path: \"/repos/org{h}/**\" }}\n");
        }

        return n == 500 ? sb.ToString() : throw new InvalidOperationException($"expected 500 endpoints, built {n}");
    }
}

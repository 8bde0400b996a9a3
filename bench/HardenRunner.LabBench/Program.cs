using System.Globalization;
using System.Net;
using System.Text.Json;
using HardenRunner.LabBench;

// harden-runner lab benchmarks (root; builds a network-namespace lab):
//   dns       the appliance's DNS server vs dnsmasq, cached allowed names, queries/s (see docs/performance.md);
//             --dnsperf true also measures every target with dnsperf (Debian package dnsperf) as a cross-check;
//             --breakdown true also measures the DnsServer alone (no events; JSON-lines events) in the same namespace
//   https     HTTPS direct vs through the appliance (wrk, h2load, curl; see docs/performance.md);
//             --squid true also measures Squid (squid-openssl, ssl_bump bump all) intercepting the same flows
//   --appliance (dns, https) / --appliance-dll (https-probe): a harden-runner.dll, or the published Native AOT executable
//   https-probe --script FILE [--timeout S] [--appliance false] [--appliance-dll DLL]   a lab (+ the appliance) and a bash script in the
//             runner namespaces with APPLIANCE_PID, SERVER_PID, LAB_CA, LAB_WORK set: for profiling by hand
// used by the scenarios inside the lab's runner namespace:
//   udp-load  --target ADDR:PORT [--names N] [--concurrency N] [--duration S] [--warmup S] [--timeout-ms MS]
//   warm      --target ADDR:PORT [--names N] [--timeout-ms MS]
//   serve-dns --port P --policy FILE [--upstream ADDR:PORT] [--events FILE]   the DnsServer alone (breakdown)
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine("usage: HardenRunner.LabBench dns [--duration S] [--warmup S] [--repetitions N] [--concurrency N] [--names N] [--timeout-ms MS] [--dnsperf true] [--breakdown true] [--appliance harden-runner.dll|EXECUTABLE]");
    Console.WriteLine("       HardenRunner.LabBench https [--duration S] [--warmup S] [--path-warmup S] [--repetitions N] [--connections N] [--threads N] [--streams N] [--download-mib N] [--downloads N] [--first-requests N] [--squid true] [--appliance harden-runner.dll|EXECUTABLE]");
    return args.Length == 0 ? 2 : 0;
}

var options = Arguments.Parse(args.AsSpan(1));
if (options is null)
{
    return 2;
}

switch (args[0])
{
    case "dns":
        return await DnsScenario.RunAsync(
            new DnsScenarioOptions
            {
                Duration = TimeSpan.FromSeconds(options.Number("duration", 10)),
                Warmup = TimeSpan.FromSeconds(options.Number("warmup", 2)),
                Repetitions = (int)options.Number("repetitions", 3),
                Concurrency = (int)options.Number("concurrency", 64),
                Names = (int)options.Number("names", DnsQueries.DefaultNameCount),
                Timeout = TimeSpan.FromMilliseconds(options.Number("timeout-ms", 1000)),
                Dnsperf = options.Text("dnsperf") is "1" or "true" or "yes",
                Breakdown = options.Text("breakdown") is "1" or "true" or "yes",
                Appliance = options.Text("appliance"),
            },
            Console.Out);

    case "https":
        return await HttpsScenario.RunAsync(
            new HttpsScenarioOptions
            {
                Duration = TimeSpan.FromSeconds(options.Number("duration", 10)),
                Warmup = TimeSpan.FromSeconds(options.Number("warmup", 2)),
                PathWarmup = TimeSpan.FromSeconds(options.Number("path-warmup", 5)),
                Repetitions = (int)options.Number("repetitions", 3),
                Connections = (int)options.Number("connections", 50),
                Threads = (int)options.Number("threads", 2),
                Http2Streams = (int)options.Number("streams", 10),
                DownloadBytes = (long)options.Number("download-mib", 100) << 20,
                Downloads = (int)options.Number("downloads", 3),
                FirstRequests = (int)options.Number("first-requests", 5),
                Squid = options.Text("squid") is "1" or "true" or "yes",
                ApplianceDll = options.Text("appliance"),
            },
            Console.Out);

    case "https-probe":
        return await HttpsProbe.RunAsync(
            options.Text("script") ?? throw new ArgumentException("--script FILE is required"),
            TimeSpan.FromSeconds(options.Number("timeout", 300)),
            options.Text("appliance") is not ("0" or "false" or "no"),
            options.Text("appliance-dll"),
            Console.Out);

    case "udp-load":
    case "warm":
        {
            var target = IPEndPoint.Parse(options.Text("target") ?? throw new ArgumentException("--target ADDR:PORT is required"));
            var client = new UdpLoadClient(
                target,
                DnsQueries.Names((int)options.Number("names", DnsQueries.DefaultNameCount)),
                (int)options.Number("concurrency", 64),
                TimeSpan.FromMilliseconds(options.Number("timeout-ms", 1000)));
            Console.WriteLine(args[0] == "warm"
                ? JsonSerializer.Serialize(client.Warm(), BenchJsonContext.Default.WarmResult)
                : JsonSerializer.Serialize(client.Run(TimeSpan.FromSeconds(options.Number("warmup", 2)), TimeSpan.FromSeconds(options.Number("duration", 10))), BenchJsonContext.Default.LoadResult));
            return 0;
        }

    case "serve-dns":
        return await BareDnsServer.RunAsync(
            (int)options.Number("port", 5301),
            options.Text("policy") ?? throw new ArgumentException("--policy FILE is required"),
            IPEndPoint.Parse(options.Text("upstream") ?? "192.0.2.53:53"),
            options.Text("events"));

    default:
        Console.Error.WriteLine($"unknown scenario '{args[0]}'");
        return 2;
}

/// <summary>--name value pairs.</summary>
internal sealed class Arguments
{
    private readonly Dictionary<string, string> _values = [];

    public static Arguments? Parse(ReadOnlySpan<string> args)
    {
        var parsed = new Arguments();
        for (var i = 0; i < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                Console.Error.WriteLine($"expected --name value, got '{args[i]}'");
                return null;
            }

            parsed._values[args[i][2..]] = args[i + 1];
        }

        return parsed;
    }

    public string? Text(string name) => _values.GetValueOrDefault(name);

    public double Number(string name, double fallback) =>
        _values.TryGetValue(name, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
}

using System.Runtime.InteropServices;
using System.Text.Json;
using HardenRunner.Lab.Contract;
using HardenRunner.LabInternet.Dns;
using HardenRunner.LabInternet.Logging;
using HardenRunner.LabInternet.Raw;
using HardenRunner.LabInternet.Web;

namespace HardenRunner.LabInternet;

/// <summary>
/// Usage: <c>HardenRunner.LabInternet CONFIG.json</c>. Binds every listener the config names, writes the ready
/// file, and serves until SIGTERM/SIGINT. Exit code 2 for bad usage or config, 1 when a listener cannot bind.
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        if (args.Length != 1)
        {
            await Console.Error.WriteLineAsync("usage: HardenRunner.LabInternet CONFIG.json");
            return 2;
        }

        LabInternetConfig config;
        try
        {
            config = JsonSerializer.Deserialize<LabInternetConfig>(await File.ReadAllTextAsync(args[0]), LabJson.Options)
                ?? throw new InvalidDataException("the config file holds JSON null");
        }
        catch (Exception e) when (e is IOException or JsonException or InvalidDataException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"lab-internet: cannot read config {args[0]}: {e.Message}");
            return 2;
        }

        using var stop = new CancellationTokenSource();
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);

        try
        {
            Directory.CreateDirectory(config.LogDirectory);
            using var logs = new LabLogs(config.LogDirectory);
            var servers = new ServerDirectory(config.Servers);

            await using var web = await LabWebServer.StartAsync(config, servers, logs.Http, stop.Token);
            using var dns = LabDnsServers.Start(config, logs.Dns);
            using var tcp = TcpRecorder.Start(config, logs.Tcp);
            using var udp = UdpRecorder.Start(config, logs.Udp);

            ReadyMarker.Write(config.ReadyFile);
            await Console.Out.WriteLineAsync($"lab-internet: ready ({config.Servers.Count} servers, {config.DnsListeners.Count} DNS listeners)");

            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token);
            }
            catch (OperationCanceledException)
            {
                // SIGTERM/SIGINT: normal end
            }

            return 0;
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or InvalidOperationException or FormatException)
        {
            await Console.Error.WriteLineAsync($"lab-internet: failed: {e}");
            return 1;
        }

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
    }
}

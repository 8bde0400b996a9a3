using System.Net;

namespace HardenRunner.LabClient;

/// <summary>
/// <c>HardenRunner.LabClient URL [METHOD] [1.1|2]</c>: one request with the system trust store (whatever the
/// runner's /etc/ssl and SSL_CERT_FILE say), prints "STATUS VERSION BODY"; exit 0 on any HTTP answer, 1 on failure.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length is < 1 or > 3)
        {
            await Console.Error.WriteLineAsync("usage: HardenRunner.LabClient URL [METHOD] [1.1|2]");
            return 2;
        }

        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var request = new HttpRequestMessage(new HttpMethod(args.Length > 1 ? args[1] : "GET"), args[0])
        {
            Version = args.Length > 2 && args[2] == "2" ? HttpVersion.Version20 : HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        try
        {
            using var response = await client.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            Console.WriteLine($"{(int)response.StatusCode} {response.Version} {body.Trim()}");
            return 0;
        }
        catch (HttpRequestException ex)
        {
            await Console.Error.WriteLineAsync("request failed: " + ex.Message + (ex.InnerException is { } inner ? " / " + inner.Message : ""));
            return 1;
        }
        catch (TaskCanceledException)
        {
            await Console.Error.WriteLineAsync("request timed out");
            return 1;
        }
    }
}

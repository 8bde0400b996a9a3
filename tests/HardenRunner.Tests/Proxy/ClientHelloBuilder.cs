using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace HardenRunner.Tests.Proxy;

/// <summary>Builds ClientHello bytes for tests (optionally split over several records), and captures real ones from SslStream.</summary>
internal static class ClientHelloBuilder
{
    public static byte[] Build(string? sni, string[]? alpn = null, int recordSize = 0, byte[]? rawSniExtension = null, bool withSupportedVersions = true, int padding = 0)
    {
        var ext = new List<byte>();
        if (rawSniExtension is not null)
        {
            Extension(ext, 0, rawSniExtension);
        }
        else if (sni is not null)
        {
            var name = Encoding.ASCII.GetBytes(sni);
            var entry = new List<byte> { 0 };
            U16(entry, name.Length);
            entry.AddRange(name);
            var list = new List<byte>();
            U16(list, entry.Count);
            list.AddRange(entry);
            Extension(ext, 0, [.. list]);
        }

        if (alpn is not null)
        {
            var protocols = new List<byte>();
            foreach (var p in alpn)
            {
                protocols.Add((byte)p.Length);
                protocols.AddRange(Encoding.ASCII.GetBytes(p));
            }

            var data = new List<byte>();
            U16(data, protocols.Count);
            data.AddRange(protocols);
            Extension(ext, 16, [.. data]);
        }

        if (withSupportedVersions)
        {
            Extension(ext, 43, [4, 3, 4, 3, 3]);
        }

        Extension(ext, 10, [0, 4, 0, 0x1d, 0, 0x17]); // supported_groups
        if (padding > 0)
        {
            Extension(ext, 21, new byte[padding]);
        }

        var body = new List<byte> { 3, 3 };
        body.AddRange(new byte[32]); // random
        body.Add(32);
        body.AddRange(Enumerable.Range(0, 32).Select(i => (byte)i)); // session id
        U16(body, 6);
        body.AddRange(new byte[] { 0x13, 0x01, 0x13, 0x02, 0xc0, 0x2b });
        body.Add(1);
        body.Add(0); // null compression
        U16(body, ext.Count);
        body.AddRange(ext);

        var handshake = new List<byte> { 1, (byte)(body.Count >> 16), (byte)(body.Count >> 8), (byte)body.Count };
        handshake.AddRange(body);
        return Records([.. handshake], recordSize <= 0 ? handshake.Count : recordSize);
    }

    /// <summary>Wraps handshake bytes in TLS handshake records of at most <paramref name="recordSize"/> bytes each.</summary>
    public static byte[] Records(byte[] handshake, int recordSize)
    {
        var output = new List<byte>();
        for (var i = 0; i < handshake.Length; i += recordSize)
        {
            var n = Math.Min(recordSize, handshake.Length - i);
            output.AddRange(new byte[] { 22, 3, 1, (byte)(n >> 8), (byte)n });
            output.AddRange(handshake.AsSpan(i, n).ToArray());
        }

        return [.. output];
    }

    /// <summary>The bytes a real .NET SslStream client sends first (its ClientHello record).</summary>
    public static async Task<byte[]> CaptureAsync(string sni, List<SslApplicationProtocol>? alpn = null)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        using var server = await listener.AcceptAsync();
        var ssl = new SslStream(new NetworkStream(client, ownsSocket: false));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var handshake = ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = sni, ApplicationProtocols = alpn }, cts.Token);
        var buffer = new byte[64 * 1024];
        var total = 0;
        while (true)
        {
            var n = await server.ReceiveAsync(buffer.AsMemory(total), SocketFlags.None, cts.Token);
            Assert.True(n > 0, "client closed before sending its hello");
            total += n;
            if (total >= 5 && total >= 5 + BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(3)))
            {
                break;
            }
        }

        server.Close(); // the client's handshake fails; only its hello matters
        await Assert.ThrowsAnyAsync<Exception>(() => handshake);
        ssl.Dispose();
        return buffer[..total];
    }

    private static void Extension(List<byte> ext, int type, byte[] data)
    {
        U16(ext, type);
        U16(ext, data.Length);
        ext.AddRange(data);
    }

    private static void U16(List<byte> b, int v)
    {
        b.Add((byte)(v >> 8));
        b.Add((byte)v);
    }
}

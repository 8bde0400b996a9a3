using System.Text;

namespace HardenRunner.Tests.Proxy;

/// <summary>
/// The smallest HTTP/2 client that lets a test choose :authority independently of the TLS SNI (.NET's HttpClient
/// always sends its Host as SNI): preface, SETTINGS, one HEADERS frame (HPACK literals, no Huffman), then everything the
/// server sends until it closes or the time runs out. DATA frames are not compressed, so bodies can be found in the bytes.
/// </summary>
internal static class RawHttp2
{
    public static async Task<string> GetAsync(Stream tls, string authority, string path, TimeSpan timeout)
    {
        var block = new List<byte> { 0x82, 0x87 }; // :method GET, :scheme https (static table)
        Literal(block, 4, path); // :path
        Literal(block, 1, authority); // :authority
        var frames = new List<byte>();
        frames.AddRange(Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        frames.AddRange(Frame(4, 0, 0, [])); // SETTINGS
        frames.AddRange(Frame(1, 0x5, 1, [.. block])); // HEADERS, END_STREAM | END_HEADERS, stream 1
        await tls.WriteAsync(frames.ToArray());
        await tls.FlushAsync();

        using var cts = new CancellationTokenSource(timeout);
        var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var n = await tls.ReadAsync(buffer, cts.Token);
                if (n == 0)
                {
                    break;
                }

                received.Write(buffer, 0, n);
                var text = Encoding.Latin1.GetString(received.ToArray());
                if (text.Contains("\n", StringComparison.Ordinal) && text.Contains("HardenRunner", StringComparison.Ordinal) || text.Contains("upstream:", StringComparison.Ordinal))
                {
                    break; // a body arrived
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException)
        {
        }

        return Encoding.Latin1.GetString(received.ToArray());
    }

    private static void Literal(List<byte> block, int nameIndex, string value)
    {
        block.Add((byte)nameIndex); // literal without indexing, indexed name (4-bit prefix)
        var bytes = Encoding.ASCII.GetBytes(value);
        block.Add((byte)bytes.Length); // no Huffman, length < 127
        block.AddRange(bytes);
    }

    private static byte[] Frame(byte type, byte flags, int stream, byte[] payload)
    {
        var f = new byte[9 + payload.Length];
        f[0] = (byte)(payload.Length >> 16);
        f[1] = (byte)(payload.Length >> 8);
        f[2] = (byte)payload.Length;
        f[3] = type;
        f[4] = flags;
        f[5] = (byte)(stream >> 24);
        f[6] = (byte)(stream >> 16);
        f[7] = (byte)(stream >> 8);
        f[8] = (byte)stream;
        payload.CopyTo(f, 9);
        return f;
    }
}

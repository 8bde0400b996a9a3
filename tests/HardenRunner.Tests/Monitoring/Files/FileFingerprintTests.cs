using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using HardenRunner.Monitoring.Files;

namespace HardenRunner.Tests.Monitoring.Files;

public sealed class FileFingerprintTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hr-fim-fp-").FullName;

    [Fact]
    public void Compute_RegularFile_IsSha256OfContent_AndIgnoresMtime()
    {
        var path = Path.Combine(_dir, "a.c");
        File.WriteAllText(path, "int main;\n");
        var first = FileFingerprint.Compute(path, 1 << 20);

        File.WriteAllText(path, "int main;\n"); // identical rewrite
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddHours(1));

        Assert.Equal("sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("int main;\n"))), first);
        Assert.Equal(first, FileFingerprint.Compute(path, 1 << 20));
        File.AppendAllText(path, "x");
        Assert.NotEqual(first, FileFingerprint.Compute(path, 1 << 20));
    }

    [Fact]
    public void Compute_MissingSymlinkLargeAndDirectory()
    {
        var target = Path.Combine(_dir, "t");
        File.WriteAllBytes(target, new byte[5000]);
        var link = Path.Combine(_dir, "l");
        File.CreateSymbolicLink(link, target);

        Assert.Null(FileFingerprint.Compute(Path.Combine(_dir, "missing"), 1 << 20));
        Assert.Equal("link:" + target, FileFingerprint.Compute(link, 1 << 20));
        Assert.StartsWith("large:5000:", FileFingerprint.Compute(target, 1000), StringComparison.Ordinal);
        Assert.Equal("dir", FileFingerprint.Compute(_dir, 1 << 20));
    }

    [Fact]
    public async Task Compute_Fifo_IsNotOpenedForReading_SoItCannotHang()
    {
        var fifo = Path.Combine(_dir, "pipe");
        using (var mk = Process.Start("mkfifo", fifo))
        {
            mk.WaitForExit(5000);
        }

        var result = await Task.Run(() => FileFingerprint.Compute(fifo, 1 << 20)).WaitAsync(TimeSpan.FromSeconds(5)); // a hang fails with TimeoutException
        Assert.StartsWith("type:", result, StringComparison.Ordinal);
    }

    [Fact]
    public void Short_GivesHashPrefixOrAbsent()
    {
        Assert.Equal("absent", FileFingerprint.Short(null));
        Assert.Equal("0123456789abcdef", FileFingerprint.Short("sha256:0123456789abcdef" + new string('0', 48)));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

using HardenRunner.Linux;

namespace HardenRunner.Tests.Service;

/// <summary>The job's policy file is read as root from a directory the job controls: no link may lead the read elsewhere.</summary>
public sealed class BeneathFileReaderTests : IDisposable
{
    private readonly string _workspace = Directory.CreateTempSubdirectory("hr-beneath-").FullName;
    private readonly string _outside = Directory.CreateTempSubdirectory("hr-outside-").FullName;

    public void Dispose()
    {
        Directory.Delete(_workspace, recursive: true);
        Directory.Delete(_outside, recursive: true);
    }

    private string Secret()
    {
        var secret = Path.Combine(_outside, "shadow");
        File.WriteAllText(secret, "root:$6$secret\n");
        return secret;
    }

    [Fact]
    public void ARegularFile_IsRead_AndAMissingOne_IsMissing()
    {
        Assert.False(BeneathFileReader.Read(_workspace, ".harden/policy.yml", 1024).Exists);
        Directory.CreateDirectory(Path.Combine(_workspace, ".harden"));
        File.WriteAllText(Path.Combine(_workspace, ".harden", "policy.yml"), "egress-policy: block\n");
        var read = BeneathFileReader.Read(_workspace, ".harden/policy.yml", 1024);
        Assert.Equal("egress-policy: block\n"u8.ToArray(), read.Content);
        Assert.Null(read.Refusal);
        Assert.False(BeneathFileReader.Read(Path.Combine(_workspace, "gone"), ".harden/policy.yml", 1024).Exists);
    }

    [Fact]
    public void ASymlinkedFile_IsRefused_NotFollowed()
    {
        Directory.CreateDirectory(Path.Combine(_workspace, ".harden"));
        File.CreateSymbolicLink(Path.Combine(_workspace, ".harden", "policy.yml"), Secret());
        var read = BeneathFileReader.Read(_workspace, ".harden/policy.yml", 1024);
        Assert.Null(read.Content);
        Assert.Contains("symbolic link", read.Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void ASymlinkedDirectory_IsRefused_NotFollowed()
    {
        File.Copy(Secret(), Path.Combine(_outside, "policy.yml"));
        Directory.CreateSymbolicLink(Path.Combine(_workspace, ".harden"), _outside);
        var read = BeneathFileReader.Read(_workspace, ".harden/policy.yml", 1024);
        Assert.Null(read.Content);
        Assert.NotNull(read.Refusal);
    }

    [Fact]
    public void AFileLargerThanTheLimit_IsRefused()
    {
        Directory.CreateDirectory(Path.Combine(_workspace, ".harden"));
        File.WriteAllBytes(Path.Combine(_workspace, ".harden", "policy.yml"), new byte[2049]);
        var read = BeneathFileReader.Read(_workspace, ".harden/policy.yml", 2048);
        Assert.Null(read.Content);
        Assert.Contains("larger than 2048 bytes", read.Refusal, StringComparison.Ordinal);
        File.WriteAllBytes(Path.Combine(_workspace, ".harden", "policy.yml"), new byte[2048]);
        Assert.Equal(2048, BeneathFileReader.Read(_workspace, ".harden/policy.yml", 2048).Content!.Length);
    }

    [Fact]
    public void AFifo_DoesNotHangTheReader()
    {
        Directory.CreateDirectory(Path.Combine(_workspace, ".harden"));
        var fifo = Path.Combine(_workspace, ".harden", "policy.yml");
        using (var mk = System.Diagnostics.Process.Start("mkfifo", [fifo]))
        {
            mk.WaitForExit();
            Assert.Equal(0, mk.ExitCode);
        }

        // no writer: a blocking open or read would wait forever; this returns (empty content or a refusal)
        var read = BeneathFileReader.Read(_workspace, ".harden/policy.yml", 1024);
        Assert.True(read.Content is { Length: 0 } || read.Refusal is not null);
    }
}

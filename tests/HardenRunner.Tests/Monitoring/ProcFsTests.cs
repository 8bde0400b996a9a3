using System.Globalization;
using System.Net;
using System.Net.Sockets;
using HardenRunner.Monitoring;

namespace HardenRunner.Tests.Monitoring;

/// <summary>The /proc readers that the socket-owner search runs on (getdents64 and readlinkat, no stat per entry).</summary>
public sealed class ProcFsTests : IDisposable
{
    private readonly Store.TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void ListNumeric_ManyEntries_EveryNumericNameAcrossSeveralReads()
    {
        // 3,000 entries are ~80 KB of directory records: several getdents64 calls with the 16 KiB buffer
        for (var i = 0; i < 3000; i++)
        {
            File.WriteAllBytes(Path.Combine(_dir.Path, i.ToString(CultureInfo.InvariantCulture)), []);
        }

        File.WriteAllBytes(Path.Combine(_dir.Path, "abc"), []);
        File.WriteAllBytes(Path.Combine(_dir.Path, "12a"), []);
        File.WriteAllBytes(Path.Combine(_dir.Path, "-5"), []);
        File.WriteAllBytes(Path.Combine(_dir.Path, "99999999999"), []); // beyond int: not a number here
        Directory.CreateDirectory(Path.Combine(_dir.Path, "7777"));
        File.CreateSymbolicLink(Path.Combine(_dir.Path, "8888"), "/nonexistent");

        var listed = ProcFs.ListNumeric(_dir.Path);

        var expected = Enumerable.Range(0, 3000).Append(7777).Append(8888).Order().ToList();
        Assert.Equal(expected, listed.Order().ToList());
    }

    [Fact]
    public void ListNumeric_MissingDirectoryOrAFile_Empty()
    {
        Assert.Empty(ProcFs.ListNumeric(Path.Combine(_dir.Path, "missing")));
        var file = Path.Combine(_dir.Path, "1");
        File.WriteAllBytes(file, [1, 2, 3]);
        Assert.Empty(ProcFs.ListNumeric(file)); // getdents64 on a file: ENOTDIR, nothing listed
    }

    [Fact]
    public void ListPids_ThisProcessAndPid1_OnlyNumericDirectories()
    {
        var pids = ProcFs.ListPids();

        Assert.Contains(Environment.ProcessId, pids);
        Assert.Contains(1, pids);
        Assert.Equal(pids.Count, pids.Distinct().Count());
        Assert.All(pids, pid => Assert.True(pid > 0));
        // /proc/self is a link and /proc/sys a directory: neither is a pid; the general API lists the same pids (give or
        // take the processes that start and exit meanwhile)
        var viaDirectoryApi = Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Count(n => n!.All(char.IsAsciiDigit));
        Assert.InRange(pids.Count, viaDirectoryApi - 20, viaDirectoryApi + 20);
    }

    [Fact]
    public void ReadSocketDescriptors_ThisProcess_ItsSocketsWithTheirInodes()
    {
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        tcp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        tcp.Listen();
        using var file = File.OpenRead("/proc/self/status"); // a descriptor that is not a socket
        var udpFd = (int)udp.SafeHandle.DangerousGetHandle();
        var tcpFd = (int)tcp.SafeHandle.DangerousGetHandle();
        var fileFd = (int)file.SafeFileHandle.DangerousGetHandle();

        var sockets = new List<(int Fd, ulong Inode)>();
        var read = ProcFs.ReadSocketDescriptors(Environment.ProcessId, sockets);

        Assert.True(read >= 3, $"descriptors read: {read}");
        var udpInode = InodeOf(udpFd);
        var tcpInode = InodeOf(tcpFd);
        Assert.NotEqual(0UL, udpInode);
        Assert.Contains((udpFd, udpInode), sockets);
        Assert.Contains((tcpFd, tcpInode), sockets);
        Assert.DoesNotContain(sockets, s => s.Fd == fileFd);
        Assert.Equal(udpInode, ProcFs.FdSocketInode(Environment.ProcessId, udpFd));
        Assert.Equal(0UL, ProcFs.FdSocketInode(Environment.ProcessId, fileFd));
    }

    [Fact]
    public void ReadSocketDescriptors_NoSuchProcess_MinusOneAndNothingAdded()
    {
        var sockets = new List<(int Fd, ulong Inode)>();
        Assert.Equal(-1, ProcFs.ReadSocketDescriptors(int.MaxValue, sockets));
        Assert.Empty(sockets);
        Assert.Equal(0UL, ProcFs.FdSocketInode(int.MaxValue, 0));
    }

    [Fact]
    public void FindOwner_SocketClosedBeforeTheFullPass_NoProcessIsScanned()
    {
        ulong inode;
        using (var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            inode = InodeOf((int)udp.SafeHandle.DangerousGetHandle());
        }

        var skipping = new SocketInodeIndex();
        Assert.Null(skipping.FindOwner(inode, [], stillOpen: () => false));
        Assert.Equal(0, skipping.ProcessesScanned);
        Assert.Equal(1, skipping.ClosedBeforeFullPass);

        // without the check the same search reads every process before it gives up
        var full = new SocketInodeIndex();
        Assert.Null(full.FindOwner(inode, []));
        Assert.True(full.ProcessesScanned > 1, $"scanned {full.ProcessesScanned}");
    }

    [Fact]
    public void FindOwner_OpenSocketOutsideTheCandidates_FoundByTheFullPass()
    {
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var inode = InodeOf((int)udp.SafeHandle.DangerousGetHandle());
        var asked = 0;

        var index = new SocketInodeIndex();
        Assert.Equal(Environment.ProcessId, index.FindOwner(inode, [1], stillOpen: () => ++asked > 0));
        Assert.Equal(1, asked);
        Assert.Equal(0, index.ClosedBeforeFullPass);

        // remembered: the next lookup re-reads one link only
        var links = index.LinksRead;
        Assert.Equal(Environment.ProcessId, index.FindOwner(inode, []));
        Assert.Equal(links + 1, index.LinksRead);
        Assert.Equal(1, index.CacheHits);
    }

    private static ulong InodeOf(int fd)
    {
        var target = ProcFs.ReadLink("/proc/self/fd/" + fd.ToString(CultureInfo.InvariantCulture));
        Assert.NotNull(target);
        return ProcFs.SocketInode(System.Text.Encoding.ASCII.GetBytes(target));
    }
}

using System.Net.Sockets;
using System.Text;
using HardenRunner.Hosting;

namespace HardenRunner.Tests.Hosting;

/// <summary>sd_notify against a real datagram socket, as systemd's NOTIFY_SOCKET receives it.</summary>
public sealed class SystemdNotifyTests
{
    private static string Receive(Socket socket)
    {
        var buffer = new byte[4096];
        socket.ReceiveTimeout = 5000;
        var n = socket.Receive(buffer);
        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    [Fact]
    public void Send_PathSocket_OneDatagramOfLines()
    {
        var dir = Directory.CreateTempSubdirectory("hr-notify-");
        try
        {
            var path = Path.Combine(dir.FullName, "notify");
            using var systemd = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            systemd.Bind(new UnixDomainSocketEndPoint(path));
            Assert.True(SystemdNotify.Send(path, "READY=1", "STATUS=enforcing in block mode"));
            Assert.Equal("READY=1\nSTATUS=enforcing in block mode\n", Receive(systemd));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Send_AbstractSocket_AtMeansAbstractNamespace()
    {
        var name = "hr-notify-" + Guid.NewGuid().ToString("N");
        using var systemd = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        systemd.Bind(new UnixDomainSocketEndPoint("\0" + name));
        Assert.True(SystemdNotify.Send("@" + name, "STOPPING=1"));
        Assert.Equal("STOPPING=1\n", Receive(systemd));
    }

    [Fact]
    public void Send_NoSocketOrNobodyListening_ReturnsFalse()
    {
        Assert.False(SystemdNotify.Send(null, "READY=1"));
        Assert.False(SystemdNotify.Send("", "READY=1"));
        Assert.False(SystemdNotify.Send(Path.Combine(Path.GetTempPath(), "hr-no-such-" + Guid.NewGuid().ToString("N")), "READY=1"));
    }

    [Fact]
    public void Send_MultiLineValue_IsRefused() =>
        Assert.Throws<ArgumentException>(() => SystemdNotify.Send("/x", "STATUS=a\nREADY=1"));
}
